//! Accuracy on addresses made by a generator written here, apart from `wangge generate
//! declared`, so the matcher is not tuned to one generator's habits: another city layout
//! (roads shared by streets, 号院 compounds, 座 buildings, houses without units), other noise
//! (homophone typos, 第N栋, 号院, 层 with the room, English-style separators, words
//! before and after) and a share of addresses of rooms that do not exist.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wangge_address::{AddressBase, HouseEntry};

const ROAD_STEMS: &[&str] = &[
    "光明", "幸福", "和平", "民主", "团结", "胜利", "青年", "人民", "朝阳", "长青", "龙华", "金桥",
    "银河", "星火", "红旗", "东风", "前进", "振兴", "繁荣", "育才",
];
const ROAD_KINDS: &[&str] = &["路", "街", "大道", "巷"];
// A typo: a character written as another of the same sound.
const HOMOPHONES: &[(char, char)] = &[
    ('光', '广'),
    ('明', '名'),
    ('幸', '兴'),
    ('福', '富'),
    ('和', '河'),
    ('平', '坪'),
    ('民', '明'),
    ('主', '住'),
    ('团', '图'),
    ('结', '杰'),
    ('胜', '圣'),
    ('利', '力'),
    ('青', '清'),
    ('年', '念'),
    ('人', '仁'),
    ('朝', '潮'),
    ('阳', '杨'),
    ('长', '常'),
    ('龙', '隆'),
    ('华', '化'),
    ('金', '今'),
    ('桥', '乔'),
    ('银', '引'),
    ('河', '和'),
    ('星', '兴'),
    ('火', '伙'),
    ('红', '洪'),
    ('旗', '齐'),
    ('东', '冬'),
    ('风', '峰'),
    ('前', '钱'),
    ('进', '近'),
    ('振', '镇'),
    ('兴', '星'),
    ('繁', '凡'),
    ('荣', '容'),
    ('育', '玉'),
    ('才', '材'),
];

struct Room {
    entry: HouseEntry,
    floor: u32,
}

fn city(rng: &mut ChaCha8Rng) -> Vec<Room> {
    let mut rooms = Vec::new();
    let districts = [
        ("江北区", ["江北街道", "观音桥街道"]),
        ("渝中区", ["解放碑街道", "七星岗街道"]),
    ];
    let mut n = 0;
    for (di, (district, streets)) in districts.iter().enumerate() {
        for (si, street) in streets.iter().enumerate() {
            for ci in 0..3 {
                let community = format!("{}{}社区", ["新华", "民生", "建新"][ci], ["一", "二"][si]);
                for ri in 0..3 {
                    let k = (di * 7 + si * 3 + ci * 5 + ri) % ROAD_STEMS.len();
                    let road = format!(
                        "{}{}",
                        ROAD_STEMS[k],
                        ROAD_KINDS[(k + ri) % ROAD_KINDS.len()]
                    );
                    let number = 1 + 2 * (ci * 3 + ri) as u32 + rng.random_range(0..2) * 20;
                    let buildings = rng.random_range(1..=4);
                    for b in 1..=buildings {
                        let units = if rng.random_bool(0.2) {
                            0
                        } else {
                            rng.random_range(1..=3)
                        };
                        let floors = rng.random_range(2..=9);
                        for u in 0..units.max(1) {
                            for f in 1..=floors {
                                for r in 1..=2 {
                                    n += 1;
                                    let unit = if units == 0 {
                                        String::new()
                                    } else {
                                        (u + 1).to_string()
                                    };
                                    rooms.push(Room {
                                        entry: HouseEntry {
                                            house_code: format!("T{n:07}"),
                                            grid_code: format!("G{di}{si}{ci}"),
                                            province: "重庆市".into(),
                                            city: "重庆市".into(),
                                            district: (*district).into(),
                                            street: (*street).into(),
                                            community: community.clone(),
                                            road: road.clone(),
                                            number: number.to_string(),
                                            building: b.to_string(),
                                            unit,
                                            room: format!("{}{:02}", f, r),
                                        },
                                        floor: f,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    rooms
}

fn cn(n: u32) -> String {
    const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => D[n as usize].to_owned(),
        10..=19 => format!("十{}", if n == 10 { "" } else { D[(n % 10) as usize] }),
        20..=99 => format!(
            "{}十{}",
            D[(n / 10) as usize],
            if n.is_multiple_of(10) {
                ""
            } else {
                D[(n % 10) as usize]
            }
        ),
        _ => n
            .to_string()
            .chars()
            .map(|c| D[c.to_digit(10).unwrap_or(0) as usize])
            .collect(),
    }
}

/// One declared address for a room, with noise of this generator's own kinds.
fn declare(room: &Room, rng: &mut ChaCha8Rng) -> String {
    let e = &room.entry;
    let mut road = e.road.clone();
    if rng.random_bool(0.2) {
        let chars: Vec<char> = road.chars().collect();
        let i = rng.random_range(0..chars.len().saturating_sub(1).max(1));
        if let Some(&(_, to)) = HOMOPHONES.iter().find(|(from, _)| *from == chars[i]) {
            road = chars
                .iter()
                .enumerate()
                .map(|(j, &c)| if j == i { to } else { c })
                .collect();
        }
    }
    let number = if rng.random_bool(0.3) {
        format!("{}号院", e.number)
    } else {
        format!("{}号", e.number)
    };
    let building: u32 = e.building.parse().unwrap_or(1);
    let building = match rng.random_range(0..4) {
        0 => format!("第{}栋", cn(building)),
        1 => format!("{building}座"),
        2 => format!("{}幢", cn(building)),
        _ => format!("{building}栋"),
    };
    let unit = if e.unit.is_empty() {
        String::new()
    } else {
        match rng.random_range(0..3) {
            0 => format!("{}单元", cn(e.unit.parse().unwrap_or(1))),
            _ => format!("{}单元", e.unit),
        }
    };
    let room_text = match rng.random_range(0..4) {
        0 => format!("{}层{}室", room.floor, e.room),
        1 => format!("{}房", cn(e.room.parse().unwrap_or(0))),
        2 => format!("{}号", e.room),
        _ => format!("{}室", e.room),
    };
    let mut prefix = String::new();
    if rng.random_bool(0.5) {
        prefix.push_str("重庆");
    }
    if rng.random_bool(0.7) {
        prefix.push_str(if rng.random_bool(0.5) {
            &e.district
        } else {
            e.district.trim_end_matches('区')
        });
    }
    if rng.random_bool(0.3) {
        prefix.push_str(&e.street);
    }
    if rng.random_bool(0.4) {
        prefix.push_str(&e.community);
    }
    let sep = [" ", "", ",", "/"][rng.random_range(0..4)];
    let body = format!("{road}{number}{sep}{building}{sep}{unit}{room_text}");
    let mut text = match rng.random_range(0..6) {
        0 => format!("{body} {prefix}"),
        _ => format!("{prefix}{body}"),
    };
    match rng.random_range(0..6) {
        0 => text = format!("家住{text}"),
        1 => text.push_str("（租户）"),
        2 => text.push_str(" 电话：023-68881234"),
        _ => {}
    }
    text
}

#[test]
fn accuracy_on_an_independent_generator() {
    let mut rng = ChaCha8Rng::seed_from_u64(20261124);
    let rooms = city(&mut rng);
    // One room in ten is left out of the base: its addresses must not match anything.
    let (known, missing): (Vec<&Room>, Vec<&Room>) = rooms
        .iter()
        .partition(|r| r.entry.house_code.bytes().last().is_some_and(|b| b != b'7'));
    let base = match AddressBase::build(known.iter().map(|r| r.entry.clone())) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    let (mut matched, mut right, mut total, mut false_on_missing) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    let mut missed = Vec::new();
    for room in known.iter().step_by(3) {
        let text = declare(room, &mut rng);
        total += 1;
        let m = base.match_address(&text);
        if m.house_code.is_none() && missed.len() < 25 {
            missed.push(format!(
                "{text} ({}) want {}",
                m.reason,
                base.house(&room.entry.house_code)
                    .map(|v| v.address)
                    .unwrap_or_default()
            ));
        }
        if let Some(code) = &m.house_code {
            matched += 1;
            if *code == room.entry.house_code {
                right += 1;
            } else if wrong.len() < 10 {
                wrong.push(format!("{text} → {code} ({})", m.reason));
            }
        }
    }
    for room in missing.iter().step_by(2) {
        let text = declare(room, &mut rng);
        if let Some(code) = base.match_address(&text).house_code {
            false_on_missing += 1;
            if wrong.len() < 20 {
                wrong.push(format!("(missing) {text} → {code}"));
            }
        }
    }
    let precision = right as f64 / matched.max(1) as f64;
    let recall = right as f64 / total as f64;
    println!(
        "independent set: {total} known + {} missing, precision {precision:.4}, recall {recall:.4}, \
         false matches on missing rooms {false_on_missing}",
        missing.len().div_ceil(2)
    );
    assert!(precision >= 0.98, "precision {precision:.4}: {wrong:#?}");
    assert!(recall >= 0.85, "recall {recall:.4}: {missed:#?}");
}
