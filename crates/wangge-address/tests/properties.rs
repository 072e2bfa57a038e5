//! Properties of normalisation and matching over generated input.

use proptest::prelude::*;
use wangge_address::{AddressBase, HouseEntry, normalise};

fn chinese(n: u32) -> String {
    const D: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    let mut s = String::new();
    let (q, b, t, o) = (n / 1000, n / 100 % 10, n / 10 % 10, n % 10);
    if q > 0 {
        s.push(D[q as usize]);
        s.push('千');
    }
    if b > 0 {
        s.push(D[b as usize]);
        s.push('百');
    } else if q > 0 && (t > 0 || o > 0) {
        s.push('零');
    }
    if t > 0 {
        if !(t == 1 && q == 0 && b == 0) {
            s.push(D[t as usize]);
        }
        s.push('十');
    } else if b > 0 && o > 0 {
        s.push('零');
    }
    if o > 0 || n == 0 {
        s.push(D[o as usize]);
    }
    s
}

fn positional(n: u32) -> String {
    const D: [char; 10] = ['〇', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    n.to_string()
        .chars()
        .map(|c| D[c.to_digit(10).unwrap_or(0) as usize])
        .collect()
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() {
                char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn base() -> &'static AddressBase {
    static BASE: std::sync::OnceLock<AddressBase> = std::sync::OnceLock::new();
    BASE.get_or_init(build_base)
}

fn build_base() -> AddressBase {
    let mut v = Vec::new();
    for b in 1..=3 {
        for u in 1..=2 {
            for r in [101, 102, 201, 202] {
                v.push(HouseEntry {
                    house_code: format!("H{b}{u}{r}"),
                    grid_code: "G".into(),
                    district: "东湖区".into(),
                    community: "建设社区".into(),
                    road: "建设路".into(),
                    number: "12".into(),
                    building: b.to_string(),
                    unit: u.to_string(),
                    room: r.to_string(),
                    ..HouseEntry::default()
                });
            }
        }
    }
    match AddressBase::build(v) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

proptest! {
    #[test]
    fn numerals_read_as_their_value(n in 0u32..10_000) {
        prop_assert_eq!(normalise(&format!("{}号", chinese(n))), format!("{n}号"));
        prop_assert_eq!(normalise(&format!("{}室", positional(n))), format!("{n}室"));
        prop_assert_eq!(normalise(&full_width(&format!("{n}号"))), format!("{n}号"));
    }

    #[test]
    fn normalising_twice_changes_nothing(s in "\\PC{0,40}") {
        let once = normalise(&s);
        prop_assert_eq!(normalise(&once), once);
    }

    #[test]
    fn any_text_gets_an_answer(s in "\\PC{0,60}") {
        let b = base();
        let m = b.match_address(&s);
        prop_assert!((0.0..=1.0).contains(&m.confidence));
        prop_assert!(m.candidates.len() <= 3);
        prop_assert_eq!(m.house_code.is_some(), m.grid_code.is_some());
    }

    #[test]
    fn every_written_form_of_a_room_finds_it(
        b in 1u32..=3, u in 1u32..=2, r in prop::sample::select(vec![101u32, 102, 201, 202]),
        form in 0usize..4, noise in 0usize..3,
    ) {
        let base = base();
        let text = match form {
            0 => format!("东湖区建设路12号{b}栋{u}单元{r}室"),
            1 => format!("东湖区建设路十二号{}幢{}单元{}房", chinese(b), chinese(u), positional(r)),
            2 => full_width(&format!("东湖区建设路12号{b}-{u}-{r}")),
            _ => format!("{b}座{u}门{r} 东湖区建设社区建设路12号"),
        };
        let text = match noise {
            0 => text,
            1 => format!("{text}（13912345678）"),
            _ => format!("{text}附近"),
        };
        let m = base.match_address(&text);
        prop_assert_eq!(m.house_code, Some(format!("H{b}{u}{r}")), "{}", text);
    }
}
