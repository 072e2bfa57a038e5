//! Identity numbers, credit codes and phone numbers from registry imports and forms.
#![no_main]
use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use wangge_domain::identity::{CreditCode, IdentityNumber, MobileNumber};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default();
    if let Ok(n) = IdentityNumber::parse(text, today) {
        assert_eq!(n.as_str().len(), 18);
        assert!(n.birth_date() <= today);
        let _ = (n.masked(), n.gender(), n.age_on(today));
    }
    if let Ok(c) = CreditCode::parse(text) {
        assert_eq!(c.as_str().len(), 18);
    }
    if let Ok(m) = MobileNumber::parse(text) {
        assert_eq!(m.masked().chars().count(), 11);
    }
});
