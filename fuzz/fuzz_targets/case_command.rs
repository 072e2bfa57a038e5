//! Case commands and reports as they arrive in request bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wangge_domain::case::{Report, ReportInput};
use wangge_domain::case_loop::Action;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Action>(data);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_owned();
    let input = ReportInput {
        category: text("category"),
        description: text("description"),
        lon: v.get("lon").and_then(|x| x.as_f64()),
        lat: v.get("lat").and_then(|x| x.as_f64()),
        source: text("source"),
        external_id: v.get("external_id").and_then(|x| x.as_str()).map(str::to_owned),
        address: None,
    };
    if let Ok(r) = Report::parse(input) {
        assert!(!r.description.is_empty());
    }
});
