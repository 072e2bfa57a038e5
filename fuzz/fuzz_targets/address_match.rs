//! Declared addresses (campaign files, POST /api/v1/match): normalising and matching any text
//! never panics, and a match is a house of the base.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wangge_address::{AddressBase, HouseEntry, normalise};

fn base() -> Option<&'static AddressBase> {
    static BASE: OnceLock<Option<AddressBase>> = OnceLock::new();
    BASE.get_or_init(|| {
        let rooms = (1..=3).flat_map(|b| {
            (1..=2).flat_map(move |u| {
                [101, 102, 501].map(|r| HouseEntry {
                    house_code: format!("H{b}{u}{r}"),
                    grid_code: "G".into(),
                    district: "东湖区".into(),
                    street: "和平街道".into(),
                    community: "建设社区".into(),
                    road: "建设路".into(),
                    number: "12".into(),
                    building: b.to_string(),
                    unit: u.to_string(),
                    room: r.to_string(),
                    ..HouseEntry::default()
                })
            })
        });
        AddressBase::build(rooms).ok()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let n = normalise(text);
    assert_eq!(normalise(&n), n);
    if let Some(base) = base() {
        let m = base.match_address(text);
        assert!((0.0..=1.0).contains(&m.confidence));
        if let Some(code) = &m.house_code {
            assert!(base.house(code).is_some());
        }
        let _ = base.parse(text);
    }
});
