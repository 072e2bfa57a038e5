//! The working calendar (工作日历): which days are working days, which hours of them are working
//! time, and arithmetic on working time between instants.
//!
//! Working time is defined on the local wall clock of one fixed UTC offset (China has no daylight
//! saving time, so a fixed offset is exact there and keeps the arithmetic free of DST gaps).
//! All instants in and out of the API are UTC.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{
    DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    Timelike, Utc, Weekday,
};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    #[error("a working calendar needs at least one working period per day")]
    NoPeriods,
    #[error("working period {index}: start {start} must be before end {end}")]
    EmptyPeriod {
        index: usize,
        start: NaiveTime,
        end: NaiveTime,
    },
    #[error(
        "working period {index} starts before the previous one ends (periods must be sorted and must not overlap)"
    )]
    Overlap { index: usize },
    #[error("working period {index}: boundaries must be whole seconds")]
    SubsecondBoundary { index: usize },
    #[error("calendar table line {line}: {message}")]
    BadLine { line: usize, message: String },
}

/// How a listed date deviates from the ordinary Monday–Friday week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialDayKind {
    /// A day off, even if it falls on a weekday (法定节假日).
    Holiday,
    /// A working day, even if it falls on a weekend (调休上班).
    Workday,
}

impl SpecialDayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecialDayKind::Holiday => "holiday",
            SpecialDayKind::Workday => "workday",
        }
    }
}

impl fmt::Display for SpecialDayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecialDay {
    pub date: NaiveDate,
    pub kind: SpecialDayKind,
}

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(t) => t,
        None => panic!("invalid time in a calendar constant"),
    }
}

const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) => d,
        None => panic!("invalid date in a calendar constant"),
    }
}

const CHINA_OFFSET: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(o) => o,
    None => panic!("invalid offset"),
};

/// China's public holidays and make-up working days (调休) for 2026, after the State Council's
/// notice on the 2026 holiday schedule. This is configuration, not law encoded in code: check it
/// against the official notice every year (usually published in November for the next year) and
/// ship the next year's rows, or load them at run time with [`WorkingCalendar::apply_table`].
///
/// Rows are (first day, last day, kind, occasion), both days inclusive. The constructors are
/// `const`, so a mistyped date fails the build rather than silently dropping a holiday.
const CHINA_2026: &[(NaiveDate, NaiveDate, SpecialDayKind, &str)] = {
    use SpecialDayKind::{Holiday, Workday};
    &[
        (ymd(2026, 1, 1), ymd(2026, 1, 3), Holiday, "元旦 New Year"),
        (
            ymd(2026, 1, 4),
            ymd(2026, 1, 4),
            Workday,
            "元旦 New Year (Sun)",
        ),
        (
            ymd(2026, 2, 15),
            ymd(2026, 2, 23),
            Holiday,
            "春节 Spring Festival",
        ),
        (
            ymd(2026, 2, 14),
            ymd(2026, 2, 14),
            Workday,
            "春节 Spring Festival (Sat)",
        ),
        (
            ymd(2026, 2, 28),
            ymd(2026, 2, 28),
            Workday,
            "春节 Spring Festival (Sat)",
        ),
        (ymd(2026, 4, 4), ymd(2026, 4, 6), Holiday, "清明节 Qingming"),
        (
            ymd(2026, 5, 1),
            ymd(2026, 5, 5),
            Holiday,
            "劳动节 Labour Day",
        ),
        (
            ymd(2026, 5, 9),
            ymd(2026, 5, 9),
            Workday,
            "劳动节 Labour Day (Sat)",
        ),
        (
            ymd(2026, 6, 19),
            ymd(2026, 6, 21),
            Holiday,
            "端午节 Dragon Boat",
        ),
        (
            ymd(2026, 9, 25),
            ymd(2026, 9, 27),
            Holiday,
            "中秋节 Mid-Autumn",
        ),
        (
            ymd(2026, 10, 1),
            ymd(2026, 10, 7),
            Holiday,
            "国庆节 National Day",
        ),
        (
            ymd(2026, 9, 20),
            ymd(2026, 9, 20),
            Workday,
            "国庆节 National Day (Sun)",
        ),
        (
            ymd(2026, 10, 10),
            ymd(2026, 10, 10),
            Workday,
            "国庆节 National Day (Sat)",
        ),
    ]
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    holidays: BTreeSet<NaiveDate>,
    makeup_workdays: BTreeSet<NaiveDate>,
    periods: Vec<(NaiveTime, NaiveTime)>,
    offset: FixedOffset,
    seconds_per_day: i64,
}

impl WorkingCalendar {
    /// A calendar with the given daily working periods (local time of `offset`) and no special
    /// days. Periods must be non-empty, sorted, non-overlapping (touching is fine), each with
    /// start < end within one calendar day, on whole seconds.
    pub fn new(
        periods: Vec<(NaiveTime, NaiveTime)>,
        offset: FixedOffset,
    ) -> Result<Self, CalendarError> {
        if periods.is_empty() {
            return Err(CalendarError::NoPeriods);
        }
        let mut previous_end: Option<NaiveTime> = None;
        let mut seconds_per_day = 0;
        for (index, &(start, end)) in periods.iter().enumerate() {
            // Whole seconds keep working_seconds_per_day exact, and exclude leap-second times.
            if start.nanosecond() != 0 || end.nanosecond() != 0 {
                return Err(CalendarError::SubsecondBoundary { index });
            }
            if start >= end {
                return Err(CalendarError::EmptyPeriod { index, start, end });
            }
            if previous_end.is_some_and(|p| start < p) {
                return Err(CalendarError::Overlap { index });
            }
            previous_end = Some(end);
            seconds_per_day += (end - start).num_seconds();
        }
        Ok(WorkingCalendar {
            holidays: BTreeSet::new(),
            makeup_workdays: BTreeSet::new(),
            periods,
            offset,
            seconds_per_day,
        })
    }

    /// The usual Chinese government working day, 09:00–12:00 and 13:30–18:00 (7.5 h) at +08:00,
    /// with the 2026 public holidays and make-up working days.
    pub fn china_default() -> Self {
        let periods = vec![(hm(9, 0), hm(12, 0)), (hm(13, 30), hm(18, 0))];
        let seconds_per_day = periods.iter().map(|&(s, e)| (e - s).num_seconds()).sum();
        let mut cal = WorkingCalendar {
            holidays: BTreeSet::new(),
            makeup_workdays: BTreeSet::new(),
            periods,
            offset: CHINA_OFFSET,
            seconds_per_day,
        };
        for &(first, last, kind, _) in CHINA_2026 {
            for date in first.iter_days().take_while(|d| *d <= last) {
                cal.set_special_day(date, kind);
            }
        }
        cal
    }

    /// Marks `d` as a day off. A date is either a holiday or a make-up workday, never both.
    pub fn add_holiday(&mut self, d: NaiveDate) {
        self.makeup_workdays.remove(&d);
        self.holidays.insert(d);
    }

    /// Marks `d` as a working day (调休上班). A date is either a holiday or a make-up workday,
    /// never both.
    pub fn add_makeup_workday(&mut self, d: NaiveDate) {
        self.holidays.remove(&d);
        self.makeup_workdays.insert(d);
    }

    pub fn set_special_day(&mut self, d: NaiveDate, kind: SpecialDayKind) {
        match kind {
            SpecialDayKind::Holiday => self.add_holiday(d),
            SpecialDayKind::Workday => self.add_makeup_workday(d),
        }
    }

    /// Returns `d` to the ordinary week rule.
    pub fn remove_special_day(&mut self, d: NaiveDate) {
        self.holidays.remove(&d);
        self.makeup_workdays.remove(&d);
    }

    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied()
    }

    pub fn makeup_workdays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.makeup_workdays.iter().copied()
    }

    /// All special days in date order.
    pub fn special_days(&self) -> Vec<SpecialDay> {
        let mut days: Vec<SpecialDay> = self
            .holidays()
            .map(|date| SpecialDay {
                date,
                kind: SpecialDayKind::Holiday,
            })
            .chain(self.makeup_workdays().map(|date| SpecialDay {
                date,
                kind: SpecialDayKind::Workday,
            }))
            .collect();
        days.sort_by_key(|d| d.date);
        days
    }

    pub fn periods(&self) -> &[(NaiveTime, NaiveTime)] {
        &self.periods
    }

    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// Monday–Friday unless a holiday; Saturday and Sunday only if a make-up workday.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if is_weekend(d.weekday()) {
            self.makeup_workdays.contains(&d)
        } else {
            !self.holidays.contains(&d)
        }
    }

    pub fn working_seconds_per_day(&self) -> i64 {
        self.seconds_per_day
    }

    /// Working time between two instants (0 if end <= start), in whole seconds (rounded down).
    pub fn working_seconds_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
        self.working_duration_between(start, end).num_seconds()
    }

    /// Working time between two instants (zero if end <= start), exact to the nanosecond.
    /// O(special days in the span), independent of the span's length.
    pub fn working_duration_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> TimeDelta {
        if end <= start {
            return TimeDelta::zero();
        }
        let (s, e) = (self.to_local(start), self.to_local(end));
        let (sd, ed) = (s.date(), e.date());
        if sd == ed {
            return self.day_overlap(sd, s.time(), Some(e.time()));
        }
        let first = self.day_overlap(sd, s.time(), None);
        let last = self.day_overlap(ed, NaiveTime::MIN, Some(e.time()));
        let full_days = sd
            .succ_opt()
            .map_or(0, |next| self.working_days_in(next, ed));
        let middle = TimeDelta::try_seconds(full_days.saturating_mul(self.seconds_per_day))
            .unwrap_or(TimeDelta::MAX);
        first + middle + last
    }

    /// The instant at which `seconds` of working time have passed after `start`: the earliest
    /// instant `t` with `working_seconds_between(start, t) == seconds`. If `start` is outside
    /// working time, counting begins at the next working period; a result that completes a
    /// period is that period's end (not the start of the next one). `seconds <= 0` gives `start`.
    /// Saturates at `DateTime::<Utc>::MAX_UTC`.
    pub fn add_working_seconds(&self, start: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
        match TimeDelta::try_seconds(seconds) {
            Some(d) => self.add_working_duration(start, d),
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// Like [`Self::add_working_seconds`], exact to the nanosecond.
    pub fn add_working_duration(&self, start: DateTime<Utc>, amount: TimeDelta) -> DateTime<Utc> {
        if amount <= TimeDelta::zero() {
            return start;
        }
        match self.add_working_local(self.to_local(start), amount) {
            Some(local) => self.to_utc(local),
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// Applies a table of special days (see [`parse_special_days`]). All or nothing: on an error
    /// the calendar is unchanged. Returns the number of rows applied.
    pub fn apply_table(&mut self, text: &str) -> Result<usize, CalendarError> {
        let days = parse_special_days(text)?;
        for d in &days {
            self.set_special_day(d.date, d.kind);
        }
        Ok(days.len())
    }

    /// The special days in the format [`parse_special_days`] reads.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        for d in self.special_days() {
            out.push_str(&format!("{} {}\n", d.date.format("%Y-%m-%d"), d.kind));
        }
        out
    }

    fn to_local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        // Only the outermost representable instants overflow; saturating keeps them ordered.
        t.naive_utc().checked_add_offset(self.offset).unwrap_or(
            if self.offset.local_minus_utc() > 0 {
                NaiveDateTime::MAX
            } else {
                NaiveDateTime::MIN
            },
        )
    }

    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match local.checked_sub_offset(self.offset) {
            Some(n) => n.and_utc(),
            None if self.offset.local_minus_utc() > 0 => DateTime::<Utc>::MIN_UTC,
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// Working time on day `d` within [from, to) (to the end of the day when `to` is None).
    fn day_overlap(&self, d: NaiveDate, from: NaiveTime, to: Option<NaiveTime>) -> TimeDelta {
        if !self.is_working_day(d) {
            return TimeDelta::zero();
        }
        self.periods
            .iter()
            .map(|&(a, b)| {
                let lo = a.max(from);
                let hi = to.map_or(b, |t| b.min(t));
                if hi > lo { hi - lo } else { TimeDelta::zero() }
            })
            .sum()
    }

    /// Number of working days in [from, to), counted arithmetically rather than day by day.
    fn working_days_in(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if to <= from {
            return 0;
        }
        let n = (to - from).num_days();
        let first = i64::from(from.weekday().num_days_from_monday());
        let tail = (0..n % 7).filter(|i| (first + i) % 7 < 5).count() as i64;
        let weekdays = n / 7 * 5 + tail;
        let weekday_holidays = self
            .holidays
            .range(from..to)
            .filter(|d| !is_weekend(d.weekday()))
            .count() as i64;
        let weekend_workdays = self
            .makeup_workdays
            .range(from..to)
            .filter(|d| is_weekend(d.weekday()))
            .count() as i64;
        weekdays - weekday_holidays + weekend_workdays
    }

    /// Steps day by day, but jumps over whole weeks between special days, where every 7 days
    /// hold exactly 5 working days; so even absurd amounts finish in O(special days) steps.
    /// None when the result is beyond the representable range.
    fn add_working_local(&self, start: NaiveDateTime, amount: TimeDelta) -> Option<NaiveDateTime> {
        let mut remaining = amount;
        let mut day = start.date();
        let mut from = start.time();
        loop {
            if self.is_working_day(day) {
                for &(a, b) in &self.periods {
                    let lo = a.max(from);
                    if b > lo {
                        let available = b - lo;
                        if remaining <= available {
                            return day.and_time(lo).checked_add_signed(remaining);
                        }
                        remaining -= available;
                    }
                }
            }
            day = day.succ_opt()?;
            from = NaiveTime::MIN;

            let next_special = [
                self.holidays.range(day..).next(),
                self.makeup_workdays.range(day..).next(),
            ]
            .into_iter()
            .flatten()
            .min();
            let ordinary_days = next_special.map_or(i64::MAX, |n| (*n - day).num_days());
            let week = 5 * self.seconds_per_day;
            if ordinary_days >= 7 && week > 0 {
                // Leave some time over, so the final partial day is found by the loop above and
                // the result stays the earliest instant.
                let whole = remaining.num_seconds();
                let strict = if remaining.subsec_nanos() > 0 {
                    whole
                } else {
                    whole - 1
                };
                let weeks = (strict / week).min(ordinary_days / 7);
                if weeks > 0 {
                    day = day.checked_add_days(Days::new(u64::try_from(weeks * 7).ok()?))?;
                    remaining -= TimeDelta::try_seconds(weeks * week)?;
                }
            }
        }
    }
}

fn is_weekend(w: Weekday) -> bool {
    matches!(w, Weekday::Sat | Weekday::Sun)
}

/// Parses a user-supplied table of special days, one per line: `YYYY-MM-DD holiday` or
/// `YYYY-MM-DD workday` (also `休` / `班`, case-insensitive, separated by spaces, tabs or a comma).
/// `#` starts a comment; blank lines are skipped. A date listed twice is an error, because an
/// upload that contradicts itself is more likely a typo than intent. Errors name the 1-based line.
pub fn parse_special_days(text: &str) -> Result<Vec<SpecialDay>, CalendarError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut seen: std::collections::BTreeMap<NaiveDate, usize> = Default::default();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let bad = |message: String| CalendarError::BadLine { line, message };
        let content = raw.split('#').next().unwrap_or("");
        let fields: Vec<&str> = content
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|f| !f.is_empty())
            .collect();
        let (date_text, kind_text) = match fields.as_slice() {
            [] => continue,
            [date, kind] => (*date, *kind),
            _ => {
                return Err(bad(format!(
                    "expected 'YYYY-MM-DD holiday' or 'YYYY-MM-DD workday', got '{}'",
                    shorten(content.trim())
                )));
            }
        };
        let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d").map_err(|_| {
            bad(format!(
                "'{}' is not a date (YYYY-MM-DD)",
                shorten(date_text)
            ))
        })?;
        let kind = match kind_text.to_lowercase().as_str() {
            "holiday" | "休" => SpecialDayKind::Holiday,
            "workday" | "班" => SpecialDayKind::Workday,
            _ => {
                return Err(bad(format!(
                    "'{}' is not a kind: expected holiday or workday",
                    shorten(kind_text)
                )));
            }
        };
        if let Some(first) = seen.insert(date, line) {
            return Err(bad(format!("{date} is already listed on line {first}")));
        }
        out.push(SpecialDay { date, kind });
    }
    Ok(out)
}

/// Keeps error messages readable when an upload is garbage.
fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    pub(crate) fn cst(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        CHINA_OFFSET
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn hours(h: i64) -> i64 {
        h * 3600
    }

    #[test]
    fn default_has_7_5_hours_and_the_2026_table() {
        let cal = WorkingCalendar::china_default();
        assert_eq!(cal.working_seconds_per_day(), 27_000);
        assert_eq!(cal.holidays().count(), 3 + 9 + 3 + 5 + 3 + 3 + 7);
        assert_eq!(cal.makeup_workdays().count(), 6);
        for d in cal.makeup_workdays() {
            assert!(is_weekend(d.weekday()), "{d} is a make-up day on a weekday");
        }
        assert!(cal.is_working_day(ymd(2026, 2, 14)));
        assert!(cal.is_working_day(ymd(2026, 2, 28)));
        assert!(!cal.is_working_day(ymd(2026, 2, 23)));
        assert!(!cal.is_working_day(ymd(2026, 3, 7)));
        assert!(cal.is_working_day(ymd(2026, 3, 6)));
    }

    #[test]
    fn working_days_in_2026() {
        // 261 weekdays, 19 of them holidays, 6 make-up weekend days.
        let cal = WorkingCalendar::china_default();
        let secs = cal.working_seconds_between(cst(2026, 1, 1, 0, 0), cst(2027, 1, 1, 0, 0));
        assert_eq!(secs, 248 * 27_000);
        let count = ymd(2026, 1, 1)
            .iter_days()
            .take(365)
            .filter(|d| cal.is_working_day(*d))
            .count();
        assert_eq!(count, 248);
    }

    #[test]
    fn new_validates_periods() {
        let o = CHINA_OFFSET;
        assert_eq!(
            WorkingCalendar::new(vec![], o),
            Err(CalendarError::NoPeriods)
        );
        assert!(matches!(
            WorkingCalendar::new(vec![(hm(9, 0), hm(9, 0))], o),
            Err(CalendarError::EmptyPeriod { index: 0, .. })
        ));
        assert_eq!(
            WorkingCalendar::new(vec![(hm(13, 0), hm(18, 0)), (hm(9, 0), hm(12, 0))], o),
            Err(CalendarError::Overlap { index: 1 })
        );
        assert_eq!(
            WorkingCalendar::new(vec![(hm(9, 0), hm(12, 0)), (hm(11, 0), hm(14, 0))], o),
            Err(CalendarError::Overlap { index: 1 })
        );
        let half = NaiveTime::from_hms_milli_opt(12, 0, 0, 500).unwrap();
        assert_eq!(
            WorkingCalendar::new(vec![(hm(9, 0), half)], o),
            Err(CalendarError::SubsecondBoundary { index: 0 })
        );
        let touching =
            WorkingCalendar::new(vec![(hm(9, 0), hm(12, 0)), (hm(12, 0), hm(13, 0))], o).unwrap();
        assert_eq!(touching.working_seconds_per_day(), hours(4));
    }

    #[test]
    fn special_day_sets_are_exclusive() {
        let mut cal = WorkingCalendar::china_default();
        let d = ymd(2027, 1, 2); // a Saturday
        cal.add_makeup_workday(d);
        assert!(cal.is_working_day(d));
        cal.add_holiday(d);
        assert!(!cal.is_working_day(d));
        assert!(!cal.makeup_workdays().any(|x| x == d));
        cal.add_makeup_workday(d);
        assert!(!cal.holidays().any(|x| x == d));
        cal.remove_special_day(d);
        assert!(!cal.is_working_day(d));
        assert!(!cal.holidays().chain(cal.makeup_workdays()).any(|x| x == d));
    }

    #[test]
    fn working_hours_cross_a_weekend() {
        let cal = WorkingCalendar::china_default();
        // Fri 17:00: one hour on Friday, three on Monday morning.
        let start = cst(2026, 3, 6, 17, 0);
        let due = cal.add_working_seconds(start, hours(4));
        assert_eq!(due, cst(2026, 3, 9, 12, 0));
        assert_eq!(cal.working_seconds_between(start, due), hours(4));
        assert_eq!(
            cal.working_seconds_between(start, cst(2026, 3, 9, 13, 30)),
            hours(4)
        );
    }

    #[test]
    fn spring_festival_with_makeup_saturdays() {
        let cal = WorkingCalendar::china_default();
        let start = cst(2026, 2, 13, 17, 0);
        // One hour on Friday, then Saturday 14 Feb is a make-up working day.
        assert_eq!(
            cal.add_working_seconds(start, hours(8)),
            cst(2026, 2, 14, 17, 30)
        );
        // 1 + 7.5 h, then 15–23 Feb off, then a full Tuesday.
        assert_eq!(
            cal.add_working_seconds(start, hours(16)),
            cst(2026, 2, 24, 18, 0)
        );
        // Wed–Fri and the make-up Saturday 28 Feb.
        assert_eq!(
            cal.add_working_seconds(cst(2026, 2, 25, 9, 0), 4 * 27_000),
            cst(2026, 2, 28, 18, 0)
        );
        assert_eq!(
            cal.working_seconds_between(cst(2026, 2, 14, 0, 0), cst(2026, 3, 1, 0, 0)),
            (1 + 4 + 1) * 27_000
        );
    }

    #[test]
    fn start_outside_working_time() {
        let cal = WorkingCalendar::china_default();
        // Night: counting begins at 09:00 next morning.
        assert_eq!(
            cal.add_working_seconds(cst(2026, 3, 10, 22, 0), hours(1)),
            cst(2026, 3, 11, 10, 0)
        );
        // Lunch break: counting begins at 13:30.
        assert_eq!(
            cal.add_working_seconds(cst(2026, 3, 10, 12, 30), hours(1)),
            cst(2026, 3, 10, 14, 30)
        );
        assert_eq!(
            cal.working_seconds_between(cst(2026, 3, 10, 12, 30), cst(2026, 3, 10, 14, 0)),
            1800
        );
        // National Day: nothing counts until Thursday 8 Oct.
        assert_eq!(
            cal.add_working_seconds(cst(2026, 10, 3, 10, 0), hours(1)),
            cst(2026, 10, 8, 10, 0)
        );
        assert_eq!(
            cal.working_seconds_between(cst(2026, 10, 1, 0, 0), cst(2026, 10, 8, 9, 0)),
            0
        );
    }

    #[test]
    fn zero_and_negative_amounts_and_reversed_spans() {
        let cal = WorkingCalendar::china_default();
        let t = cst(2026, 3, 10, 22, 0);
        assert_eq!(cal.add_working_seconds(t, 0), t);
        assert_eq!(cal.add_working_seconds(t, -5), t);
        assert_eq!(cal.working_seconds_between(t, t - Duration::days(3)), 0);
    }

    #[test]
    fn long_spans_are_fast_and_huge_amounts_saturate() {
        let cal = WorkingCalendar::china_default();
        let start = cst(2026, 3, 2, 9, 0);
        let due = cal.add_working_seconds(start, 30 * 27_000);
        // 30 working days from Mon 2 Mar: six whole weeks minus Qingming Mon 6 Apr.
        assert_eq!(due, cst(2026, 4, 13, 18, 0));
        let far = cal.add_working_seconds(start, 1_000_000 * 27_000);
        assert_eq!(cal.working_seconds_between(start, far), 1_000_000 * 27_000);
        assert_eq!(
            cal.add_working_seconds(start, i64::MAX),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            cal.add_working_seconds(start, i64::MAX / 1000),
            DateTime::<Utc>::MAX_UTC
        );
        let all = cal.working_seconds_between(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert!(all > 0);
    }

    #[test]
    fn subsecond_instants_are_exact() {
        let cal = WorkingCalendar::china_default();
        let start = cst(2026, 3, 10, 11, 59) + Duration::milliseconds(59_500);
        let due = cal.add_working_seconds(start, 1);
        assert_eq!(due, cst(2026, 3, 10, 13, 30) + Duration::milliseconds(500));
        assert_eq!(cal.working_seconds_between(start, due), 1);
    }

    #[test]
    fn table_parses_and_round_trips() {
        let text = "\u{feff}# 2027 draft\n2027-01-01 holiday\n\n2027-01-04\tworkday # Sunday\n2027-02-06,班\n";
        let days = parse_special_days(text).unwrap();
        assert_eq!(
            days,
            vec![
                SpecialDay {
                    date: ymd(2027, 1, 1),
                    kind: SpecialDayKind::Holiday
                },
                SpecialDay {
                    date: ymd(2027, 1, 4),
                    kind: SpecialDayKind::Workday
                },
                SpecialDay {
                    date: ymd(2027, 2, 6),
                    kind: SpecialDayKind::Workday
                },
            ]
        );
        let mut cal = WorkingCalendar::china_default();
        assert_eq!(cal.apply_table(text).unwrap(), 3);
        assert!(!cal.is_working_day(ymd(2027, 1, 1)));
        let mut copy = WorkingCalendar::new(cal.periods().to_vec(), cal.offset()).unwrap();
        copy.apply_table(&cal.to_table()).unwrap();
        assert_eq!(copy, cal);
    }

    #[test]
    fn table_errors_name_the_line_and_change_nothing() {
        let line_of = |text: &str| match parse_special_days(text) {
            Err(CalendarError::BadLine { line, .. }) => line,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(line_of("2027-01-01 holiday\n2027-13-01 holiday"), 2);
        assert_eq!(line_of("# c\n\n2027-01-01 vacation"), 3);
        assert_eq!(line_of("2027-01-01"), 1);
        assert_eq!(line_of("2027-01-01 holiday extra"), 1);
        assert_eq!(line_of("2027-01-01 holiday\n2027-01-01 workday"), 2);
        let mut cal = WorkingCalendar::china_default();
        let before = cal.clone();
        assert!(cal.apply_table("2027-01-01 holiday\nnonsense").is_err());
        assert_eq!(cal, before);
        let err = parse_special_days("2027-01-01 holiday\n2027-01-01 holiday").unwrap_err();
        assert_eq!(
            err.to_string(),
            "calendar table line 2: 2027-01-01 is already listed on line 1"
        );
    }

    // ---- reference implementation: minute by minute ----

    /// Whether the minute starting at `t` is working time (minute-aligned periods and instants).
    pub(crate) fn ref_is_working_minute(cal: &WorkingCalendar, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&cal.offset()).naive_local();
        cal.is_working_day(local.date())
            && cal
                .periods()
                .iter()
                .any(|&(a, b)| a <= local.time() && local.time() < b)
    }

    pub(crate) fn ref_between(cal: &WorkingCalendar, s: DateTime<Utc>, e: DateTime<Utc>) -> i64 {
        let mut t = s;
        let mut total = 0;
        while t < e {
            if ref_is_working_minute(cal, t) {
                total += 60;
            }
            t += Duration::minutes(1);
        }
        total
    }

    fn ref_add(cal: &WorkingCalendar, s: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
        let mut t = s;
        let mut acc = 0;
        while acc < seconds {
            if ref_is_working_minute(cal, t) {
                acc += 60;
            }
            t += Duration::minutes(1);
        }
        t
    }

    /// 1–3 minute-aligned periods within a day.
    fn arb_periods() -> impl Strategy<Value = Vec<(NaiveTime, NaiveTime)>> {
        proptest::collection::btree_set(0u32..1440, 2..=6).prop_filter_map(
            "even number of boundaries",
            |set| {
                let mut v: Vec<u32> = set.into_iter().collect();
                if v.len() % 2 == 1 {
                    v.pop();
                }
                if v.is_empty() {
                    return None;
                }
                Some(
                    v.chunks(2)
                        .map(|c| (hm(c[0] / 60, c[0] % 60), hm(c[1] / 60, c[1] % 60)))
                        .collect(),
                )
            },
        )
    }

    /// A random calendar: random periods, offset and special days in early 2026.
    pub(crate) fn arb_calendar() -> impl Strategy<Value = WorkingCalendar> {
        let offsets = prop_oneof![
            Just(8 * 3600),
            Just(0),
            Just(-5 * 3600),
            Just(5 * 3600 + 45 * 60)
        ];
        let specials = proptest::collection::vec((0u64..90, any::<bool>()), 0..30);
        (
            prop_oneof![Just(None), arb_periods().prop_map(Some)],
            offsets,
            specials,
        )
            .prop_map(|(periods, offset, specials)| {
                let mut cal = match periods {
                    None => WorkingCalendar::new(
                        vec![(hm(9, 0), hm(12, 0)), (hm(13, 30), hm(18, 0))],
                        FixedOffset::east_opt(offset).unwrap(),
                    )
                    .unwrap(),
                    Some(p) => {
                        WorkingCalendar::new(p, FixedOffset::east_opt(offset).unwrap()).unwrap()
                    }
                };
                for (day, holiday) in specials {
                    let d = ymd(2026, 1, 1) + Days::new(day);
                    if holiday {
                        cal.add_holiday(d);
                    } else {
                        cal.add_makeup_workday(d);
                    }
                }
                cal
            })
    }

    /// A minute-aligned instant in the first 80 days of 2026 (UTC).
    pub(crate) fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..80 * 1440)
            .prop_map(|m| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(m))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn between_matches_reference(
            cal in arb_calendar(), start in arb_instant(), len in 0i64..10 * 1440,
        ) {
            let end = start + Duration::minutes(len);
            prop_assert_eq!(cal.working_seconds_between(start, end), ref_between(&cal, start, end));
            prop_assert_eq!(cal.working_seconds_between(end, start), 0);
        }

        #[test]
        fn add_matches_reference_and_inverts_between(
            cal in arb_calendar(), start in arb_instant(), minutes in 0i64..3 * 1440,
        ) {
            let s = minutes * 60;
            let due = cal.add_working_seconds(start, s);
            prop_assert_eq!(due, ref_add(&cal, start, s));
            prop_assert_eq!(cal.working_seconds_between(start, due), s);
        }

        #[test]
        fn add_is_the_earliest_inverse(
            cal in arb_calendar(), start in arb_instant(), s in 0i64..2_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            let start = start + Duration::nanoseconds(i64::from(nanos));
            let due = cal.add_working_seconds(start, s);
            prop_assert_eq!(cal.working_seconds_between(start, due), s);
            prop_assert_eq!(cal.working_duration_between(start, due), Duration::seconds(s));
            if s > 0 {
                let just_before = due - Duration::nanoseconds(1);
                prop_assert!(cal.working_duration_between(start, just_before) < Duration::seconds(s));
            }
        }

        #[test]
        fn table_parser_never_panics(text in "\\PC{0,200}") {
            let _ = parse_special_days(&text);
        }

        #[test]
        fn table_parser_never_panics_on_near_misses(
            lines in proptest::collection::vec(
                "[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}[ ,\t]{0,2}(holiday|workday|休|班|x)?( #.*)?", 0..8),
        ) {
            let _ = parse_special_days(&lines.join("\n"));
        }
    }
}
