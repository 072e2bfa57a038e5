//! Days as people enter them: "2026-11-24" is that day on the working calendar's wall clock
//! (Beijing time with the Chinese calendar), not in UTC. Desks, the map and the statistics all
//! read dates this one way.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use wangge_domain::calendar::WorkingCalendar;

use crate::error::{ApiError, ApiResult};

/// A `YYYY-MM-DD` date; the error names the field.
pub fn parse_day(field: &str, text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::invalid_field(field, format!("{field} must be a date like 2026-11-24"))
    })
}

/// The instant the day starts on the calendar's clock.
pub fn day_start(cal: &WorkingCalendar, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(midnight, Utc)
        - Duration::seconds(i64::from(cal.offset().local_minus_utc()))
}

/// The day it is at `at` on the calendar's clock.
pub fn day_of(cal: &WorkingCalendar, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&cal.offset()).date_naive()
}

/// The instant the day ends (the next day starts): an inclusive "to" date as a bound.
pub fn day_end(cal: &WorkingCalendar, day: NaiveDate) -> DateTime<Utc> {
    day_start(cal, day) + Duration::days(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_a_beijing_day() {
        let cal = WorkingCalendar::china_default();
        let day = parse_day("from", "2026-11-24").unwrap_or_default();
        assert_eq!(
            day_start(&cal, day).to_rfc3339(),
            "2026-11-23T16:00:00+00:00"
        );
        assert_eq!(day_of(&cal, day_start(&cal, day)), day);
        assert!(
            parse_day("from", "yesterday")
                .is_err_and(|e| e.message.contains("from must be a date"))
        );
    }
}
