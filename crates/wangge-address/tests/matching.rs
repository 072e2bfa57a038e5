//! Matching against a small hand-made base with known answers.
#![allow(clippy::too_many_arguments)]

use wangge_address::{AddressBase, HouseEntry};

fn house(
    district: &str,
    street: &str,
    community: &str,
    road: &str,
    number: &str,
    building: &str,
    unit: &str,
    room: &str,
) -> HouseEntry {
    HouseEntry {
        house_code: format!("{district}-{road}-{number}-{building}-{unit}-{room}"),
        grid_code: format!("{community}-grid"),
        province: "示范省".into(),
        city: "示范市".into(),
        district: district.into(),
        street: street.into(),
        community: community.into(),
        road: road.into(),
        number: number.into(),
        building: building.into(),
        unit: unit.into(),
        room: room.into(),
    }
}

fn base() -> AddressBase {
    let mut v = Vec::new();
    for unit in ["1", "2"] {
        for room in ["101", "102", "501", "502"] {
            v.push(house(
                "东湖区",
                "和平街道",
                "建设社区",
                "建设路",
                "12",
                "3",
                unit,
                room,
            ));
            v.push(house(
                "东湖区",
                "和平街道",
                "建设社区",
                "建设路",
                "12",
                "4",
                unit,
                room,
            ));
            v.push(house(
                "东湖区",
                "和平街道",
                "友谊社区",
                "解放大道",
                "88",
                "1",
                unit,
                room,
            ));
            // The same road name in another district.
            v.push(house(
                "西山区",
                "长江街道",
                "长江社区",
                "建设路",
                "12",
                "3",
                unit,
                room,
            ));
        }
    }
    // A building without units.
    for room in ["201", "202"] {
        v.push(house(
            "东湖区",
            "和平街道",
            "友谊社区",
            "友谊街",
            "5",
            "2",
            "",
            room,
        ));
    }
    match AddressBase::build(v) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

#[track_caller]
fn matches(b: &AddressBase, text: &str, code: &str) {
    let m = b.match_address(text);
    assert_eq!(
        m.house_code.as_deref(),
        Some(code),
        "{text}: {m:?}\n{:?}",
        b.parse(text)
    );
}

#[track_caller]
fn unmatched(b: &AddressBase, text: &str) {
    let m = b.match_address(text);
    assert_eq!(m.house_code, None, "{text}: {m:?}\n{:?}", b.parse(text));
}

#[test]
fn exact_and_written_differently() {
    let b = base();
    let want = "东湖区-建设路-12-3-2-501";
    for text in [
        "示范省示范市东湖区和平街道建设社区建设路12号3栋2单元501室",
        "东湖区建设路12号3栋2单元501室",
        "东湖建设路十二号三幢二单元五〇一房",
        "示范市东湖区建设路１２号３座２单元５０１",
        "东湖区建设路12号3号楼2门501",
        "东湖区建设路12号3-2-501",
        "3栋2单元501室，东湖区建设路12号",
        "3栋东湖区建设路12号2单元501室",
        "2单元501室 3栋 建设社区 建设路12号 东湖区",
        "东湖区 建设路12号 3栋 2单元 501室（张三 13812345678）附近",
        "和平街道建设路12号3栋2单元501",
    ] {
        matches(&b, text, want);
    }
    let m = b.match_address("示范省示范市东湖区和平街道建设社区建设路12号3栋2单元501室");
    assert_eq!(m.reason, "exact");
    assert!(m.confidence > 0.99);
    assert_eq!(m.grid_code.as_deref(), Some("建设社区-grid"));
}

#[test]
fn mistyped_road_names_are_read() {
    let b = base();
    matches(
        &b,
        "东湖区建设社区建没路12号3栋2单元501室",
        "东湖区-建设路-12-3-2-501",
    );
    matches(
        &b,
        "东湖区解放大到88号1栋1单元102室",
        "东湖区-解放大道-88-1-1-102",
    );
    let m = b.match_address("东湖区建设社区建没路12号3栋2单元501室");
    assert!(m.reason.contains("建设路"), "{}", m.reason);
}

#[test]
fn ambiguous_or_missing_is_unmatched_with_candidates() {
    let b = base();
    // Two districts have 建设路12号3栋.
    let m = b.match_address("建设路12号3栋2单元501室");
    assert_eq!(m.house_code, None, "{m:?}");
    assert!(m.candidates.len() >= 2, "{m:?}");
    // Without the unit, 501 is in both units.
    unmatched(&b, "东湖区建设路12号3栋501室");
    // A room no house has.
    unmatched(&b, "东湖区建设路12号3栋2单元909室");
    // Not an address.
    unmatched(&b, "13812345678");
    unmatched(&b, "");
}

#[test]
fn parts_the_base_does_not_use() {
    let b = base();
    matches(&b, "东湖区友谊街5号2栋201", "东湖区-友谊街-5-2--201");
    // A unit given where the building has none is a small doubt, not a miss.
    matches(
        &b,
        "东湖区友谊社区友谊街5号2栋1单元202室",
        "东湖区-友谊街-5-2--202",
    );
}

#[test]
fn duplicate_codes_are_refused() {
    let h = house(
        "东湖区",
        "和平街道",
        "建设社区",
        "建设路",
        "12",
        "3",
        "1",
        "101",
    );
    let e = AddressBase::build(vec![h.clone(), h]).err();
    assert!(e.is_some_and(|e| e.to_string().contains("appears twice")));
}

#[test]
fn a_house_is_found_by_its_code() {
    let b = base();
    let v = b.house("东湖区-建设路-12-3-2-501");
    assert_eq!(
        v.map(|v| v.address),
        Some("示范省示范市东湖区和平街道建设社区建设路12号3栋2单元501室".to_owned())
    );
    assert!(b.house("nope").is_none());
}
