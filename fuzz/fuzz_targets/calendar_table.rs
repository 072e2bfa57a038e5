//! Holiday tables uploaded by administrators.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wangge_domain::calendar::parse_special_days(text);
    }
});
