//! Region codes from import files and URLs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wangge_domain::region::{Level, RegionCode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (code, parent) = text.split_once('|').unwrap_or((text, ""));
    for level in Level::ALL {
        if let Ok(c) = RegionCode::parse_with_parent(code, level, Some(parent)) {
            assert_eq!(c.as_str().len(), level.code_len());
        }
        let _ = RegionCode::parse(code, level);
    }
});
