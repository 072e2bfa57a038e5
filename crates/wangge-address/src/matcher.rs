//! Matching a declared address to a house of the base.
//!
//! 1. Read the address (`parse::read`): the known names in it and its numbers.
//! 2. Candidate roads: the roads it names exactly; else the roads whose names are nearest to the
//!    text where the road stands (edit distance), looked for among the roads of the community or
//!    street it names, else through an index of road-name characters. With no road at all, the
//!    buildings of the community it names.
//! 3. On each road, the buildings with the given door number and building number, and in each
//!    building the rooms with the given unit and room. A part the address leaves out matches
//!    anything, at a cost.
//! 4. Score: 1.0, less a penalty per doubt (a mistyped road, a part left out, a district,
//!    street or community that contradicts the house's), less a penalty when another house
//!    scores close: two equally good houses are no answer. Below the threshold the address is
//!    unmatched and the nearest candidates are given.

use crate::base::{AddressBase, NONE, Room};
use crate::parse::{self, NameKind, Reading};

/// Confidence at or above which a match is taken.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// The answer for one address.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The matched house, or `None` when nothing reached the threshold.
    pub house_code: Option<String>,
    pub grid_code: Option<String>,
    /// 0–1: how sure the match is (the best candidate's score when unmatched).
    pub confidence: f64,
    /// How the answer was reached, in short clauses ("exact"; "road 建设路 read from 建没路";
    /// "unit inferred"; "2 houses fit equally").
    pub reason: String,
    /// The nearest houses, best first (at most three); the first is the match when there is one.
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub house_code: String,
    pub grid_code: String,
    pub address: String,
    pub confidence: f64,
}

// Penalties, each a doubt about the answer. Tuned on generated addresses (see the benchmarks);
// the independent test set in tests/ keeps them honest.
const MISSING_NUMBER: f64 = 0.08;
const MISSING_BUILDING: f64 = 0.1;
const MISSING_UNIT: f64 = 0.06;
const UNIT_NOT_USED: f64 = 0.04;
const NO_ROAD: f64 = 0.1;
const FUZZY_ROAD: f64 = 0.5; // times (1 - similarity)
const FUZZY_ROAD_IN_PLACE: f64 = 0.3; // the same, when a street or community confirms the road
const CONFLICT_DISTRICT: f64 = 0.3;
const CONFLICT_STREET: f64 = 0.15;
const CONFLICT_COMMUNITY: f64 = 0.15;
const MISSING_ROOM: f64 = 0.3;
const CLOSE_MARGIN: f64 = 0.15;
/// Road-name similarity below which a road is no candidate.
const MIN_ROAD_SIMILARITY: f64 = 0.5;
/// Buildings looked at per road, and per community, before giving up on an address too vague
/// to place.
const MAX_BUILDINGS_PER_ROAD: usize = 1600;
const MAX_BUILDINGS_PER_COMMUNITY: usize = 400;

/// The name of a road without its kind (建设路 → 建设, 解放大道 → 解放).
pub(crate) fn road_stem(name: &str) -> &str {
    for s in [
        "大道", "大街", "胡同", "公路", "路", "街", "道", "巷", "弄", "里", "村",
    ] {
        if let Some(stem) = name.strip_suffix(s)
            && !stem.is_empty()
        {
            return stem;
        }
    }
    name
}

/// 1 − edit distance ÷ the longer length, over characters.
fn similarity(a: &[char], b: &[char]) -> f64 {
    let n = a.len().max(b.len());
    if n == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - prev[b.len()] as f64 / n as f64
}

/// How well the text where a road stands fits a road name: its tail against the name (the
/// text may carry a person's name or other noise in front), also one character shorter or
/// longer, and against the name without its kind (建设 for 建设路).
fn road_similarity(text: &[char], road: &str) -> f64 {
    let name: Vec<char> = road.chars().collect();
    let stem: Vec<char> = road_stem(road).chars().collect();
    let mut best: f64 = 0.0;
    // The stem only when the text may have left the road's kind out.
    let targets: &[&Vec<char>] = if text.last() == name.last() {
        &[&name]
    } else {
        &[&name, &stem]
    };
    for target in targets {
        let l = target.len();
        for len in [l.saturating_sub(1), l, l + 1] {
            if len == 0 || len > text.len() {
                continue;
            }
            let tail = &text[text.len() - len..];
            best = best.max(similarity(tail, target));
        }
    }
    best
}

#[derive(Default)]
struct Context {
    districts: Vec<u32>,
    streets: Vec<(u32, bool)>,
    communities: Vec<(u32, bool)>,
    road_names: Vec<u32>,
}

/// What was left to doubt about a candidate, one bit each.
#[derive(Clone, Copy)]
#[repr(u16)]
enum Doubt {
    Number = 1,
    Building = 2,
    Unit = 4,
    UnitNotUsed = 8,
    Room = 16,
    District = 32,
    Street = 64,
    Community = 128,
}

const DOUBTS: [(Doubt, f64, &str); 8] = [
    (Doubt::Number, MISSING_NUMBER, "door number inferred"),
    (Doubt::Building, MISSING_BUILDING, "building inferred"),
    (Doubt::Unit, MISSING_UNIT, "unit inferred"),
    (
        Doubt::UnitNotUsed,
        UNIT_NOT_USED,
        "unit given, the building has none",
    ),
    (Doubt::Room, MISSING_ROOM, "room not given"),
    (Doubt::District, CONFLICT_DISTRICT, "district differs"),
    (Doubt::Street, CONFLICT_STREET, "street differs"),
    (Doubt::Community, CONFLICT_COMMUNITY, "community differs"),
];

fn penalty(doubts: u16) -> f64 {
    DOUBTS
        .iter()
        .filter(|(d, _, _)| doubts & (*d as u16) != 0)
        .map(|(_, p, _)| p)
        .sum()
}

#[derive(Clone, Copy, PartialEq)]
enum RoadHow {
    Exact,
    Fuzzy,
    Missing,
}

/// How the candidate's road was found.
#[derive(Clone, Copy)]
struct RoadFit {
    road: u32,
    penalty: f64,
    how: RoadHow,
}

impl RoadFit {
    const EXACT: RoadFit = RoadFit {
        road: NONE,
        penalty: 0.0,
        how: RoadHow::Exact,
    };
}

#[derive(Clone)]
struct Scored {
    house: u32,
    building: u32,
    room: Room,
    score: f64,
    road: RoadFit,
    doubts: u16,
}

impl AddressBase {
    /// The best house for `text` at [`DEFAULT_THRESHOLD`].
    pub fn match_address(&self, text: &str) -> Match {
        self.match_with(text, DEFAULT_THRESHOLD)
    }

    /// The best house for `text`, taken when its confidence reaches `threshold`.
    pub fn match_with(&self, text: &str, threshold: f64) -> Match {
        let reading = parse::read(&self.gazetteer, text);
        let ctx = self.context(&reading);
        let mut scored = self.candidates(&reading, &ctx);
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.house.cmp(&b.house)));
        scored.dedup_by_key(|s| s.house);
        let Some(best) = scored.first() else {
            let why = if reading.text.is_empty() {
                "nothing of an address in the text"
            } else if ctx.road_names.is_empty()
                && ctx.communities.is_empty()
                && reading.road_text.is_empty()
            {
                "no road or community of the base recognised"
            } else {
                "no house of the base has these numbers"
            };
            return Match {
                house_code: None,
                grid_code: None,
                confidence: 0.0,
                reason: why.to_owned(),
                candidates: Vec::new(),
            };
        };
        let mut confidence = best.score;
        let mut notes = self.notes(best, &reading.road_text);
        if let Some(second) = scored.get(1) {
            let margin = best.score - second.score;
            if margin < CLOSE_MARGIN {
                confidence -= (CLOSE_MARGIN - margin) * 2.0;
                let ties = scored
                    .iter()
                    .take_while(|s| best.score - s.score < 1e-9)
                    .count();
                if ties > 1 {
                    notes.push(format!("{ties} houses fit equally"));
                } else {
                    notes.push("another house fits almost as well".to_owned());
                }
            }
        }
        let confidence = confidence.clamp(0.0, 1.0);
        let candidates: Vec<Candidate> = scored
            .iter()
            .take(3)
            .enumerate()
            .map(|(i, s)| Candidate {
                house_code: self.code(s.house).to_owned(),
                grid_code: self.grid(s.house).to_owned(),
                address: self.line_of(s.building, &s.room),
                confidence: if i == 0 {
                    confidence
                } else {
                    s.score.clamp(0.0, 1.0)
                },
            })
            .collect();
        let reason = if notes.is_empty() {
            "exact".to_owned()
        } else {
            notes.join("; ")
        };
        let taken = confidence >= threshold;
        Match {
            house_code: taken.then(|| self.code(best.house).to_owned()),
            grid_code: taken.then(|| self.grid(best.house).to_owned()),
            confidence,
            reason: if taken {
                reason
            } else {
                format!("unmatched: {reason}")
            },
            candidates,
        }
    }

    /// The doubts about a candidate in words.
    fn notes(&self, s: &Scored, road_text: &str) -> Vec<String> {
        let mut notes = Vec::new();
        match s.road.how {
            RoadHow::Exact => {}
            RoadHow::Missing => notes.push("no road: by community".to_owned()),
            RoadHow::Fuzzy => {
                let name = self
                    .roads
                    .get(s.road.road as usize)
                    .map_or("", |r| self.names.name(r.name));
                // Show the characters the name was read from, not the noise before them.
                let n = name.chars().count();
                let skip = road_text.chars().count().saturating_sub(n);
                let written: String = road_text.chars().skip(skip).collect();
                notes.push(format!("road {name} read from {written}"));
            }
        }
        for (d, _, words) in DOUBTS {
            if s.doubts & (d as u16) != 0 {
                notes.push(words.to_owned());
            }
        }
        notes
    }

    fn context(&self, r: &Reading) -> Context {
        let mut ctx = Context::default();
        for h in &r.hits {
            for m in self.gazetteer.meanings(h.pattern) {
                match m.kind {
                    NameKind::District => ctx.districts.push(m.id),
                    NameKind::Street => ctx.streets.push((m.id, m.full)),
                    NameKind::Community => ctx.communities.push((m.id, m.full)),
                    NameKind::Road => ctx.road_names.push(m.id),
                    // Provinces and cities of the base, and national divisions, say which
                    // city the address is in; a base holds one city or a few, so they decide
                    // nothing here.
                    NameKind::Province | NameKind::City | NameKind::National => {}
                }
            }
        }
        ctx
    }

    /// Candidate roads with their name similarity (1.0 when named exactly).
    fn candidate_roads(&self, r: &Reading, ctx: &Context) -> Vec<(u32, f64)> {
        let mut out: Vec<(u32, f64)> = Vec::new();
        for &name in &ctx.road_names {
            if let Some(list) = self.road_by_name.get(&name) {
                out.extend(list.iter().map(|&road| (road, 1.0)));
            }
        }
        if !out.is_empty() || r.road_text.is_empty() {
            return out;
        }
        let text: Vec<char> = r.road_text.chars().collect();
        // The roads of the place the address names, and the roads sharing the most
        // characters with the text (a short name such as 江北 may be a district or a street,
        // and the place itself may be wrong).
        let mut pool: Vec<u32> = Vec::new();
        for &(c, _) in &ctx.communities {
            if let Some(list) = self.community_roads.get(&c) {
                pool.extend(list);
            }
        }
        for &(s, _) in &ctx.streets {
            if let Some(list) = self.street_roads.get(&s) {
                pool.extend(list);
            }
        }
        let mut counts: crate::base::Map<u32, u32> = crate::base::new_map();
        let mut seen: Vec<char> = Vec::new();
        for &c in &text {
            if seen.contains(&c) {
                continue;
            }
            seen.push(c);
            if let Some(list) = self.road_chars.get(&c) {
                // A character shared by most roads (a direction, 新) says little.
                if list.len() > self.roads.len() / 4 + 50 {
                    continue;
                }
                for &road in list {
                    *counts.entry(road).or_default() += 1;
                }
            }
        }
        let mut ranked: Vec<(u32, u32)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        pool.extend(ranked.into_iter().take(24).map(|(road, _)| road));
        pool.sort_unstable();
        pool.dedup();
        for road in pool {
            let name = self.names.name(self.roads[road as usize].name);
            if name.is_empty() {
                continue;
            }
            let sim = road_similarity(&text, name);
            if sim >= MIN_ROAD_SIMILARITY {
                out.push((road, sim));
            }
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.truncate(8);
        out
    }

    fn candidates(&self, r: &Reading, ctx: &Context) -> Vec<Scored> {
        let n = &r.numbers;
        let key = |v: &Option<String>| -> Option<Option<u32>> {
            // None: not given; Some(None): given but no house uses it.
            v.as_ref()
                .map(|s| self.parts.get(crate::base::normalised_part_key(s)))
        };
        let (number, building, unit, room) =
            (key(&n.number), key(&n.building), key(&n.unit), key(&n.room));
        // A door, building or room number no house has: the address is elsewhere (or mistyped
        // beyond reading). A unit no house has is only a doubt (the base may not use units).
        if [number, building, room]
            .iter()
            .any(|k| matches!(k, Some(None)))
        {
            return Vec::new();
        }
        let confirmed_place =
            ctx.streets.iter().any(|s| s.1) || ctx.communities.iter().any(|c| c.1);
        // A short name (江北) may stand for a district or a street: only full names contradict.
        let full = |list: &[(u32, bool)]| -> Vec<u32> {
            list.iter().filter(|x| x.1).map(|x| x.0).collect()
        };
        let (streets, communities) = (full(&ctx.streets), full(&ctx.communities));
        let mut out = Vec::new();
        let visit = |b: u32, road: RoadFit, out: &mut Vec<Scored>| {
            let bd = &self.buildings[b as usize];
            if let Some(want) = number
                && Some(bd.number) != want
            {
                return;
            }
            if let Some(want) = building
                && Some(bd.building) != want
            {
                return;
            }
            let mut doubts = 0u16;
            let mut flag = |cond: bool, d: Doubt| {
                if cond {
                    doubts |= d as u16;
                }
            };
            flag(number.is_none() && bd.number != NONE, Doubt::Number);
            flag(building.is_none() && bd.building != NONE, Doubt::Building);
            flag(
                !ctx.districts.is_empty() && !ctx.districts.contains(&bd.district),
                Doubt::District,
            );
            flag(
                !streets.is_empty() && !streets.contains(&bd.street),
                Doubt::Street,
            );
            flag(
                !communities.is_empty() && !communities.contains(&bd.community),
                Doubt::Community,
            );
            flag(room.is_none(), Doubt::Room);
            for rm in self.building_rooms(b) {
                if let Some(want) = room
                    && Some(rm.room) != want
                {
                    continue;
                }
                let mut doubts = doubts;
                match unit {
                    Some(_) if rm.unit == NONE => doubts |= Doubt::UnitNotUsed as u16,
                    Some(want) if Some(rm.unit) != want => continue,
                    None if rm.unit != NONE => doubts |= Doubt::Unit as u16,
                    _ => {}
                }
                out.push(Scored {
                    house: rm.house,
                    building: b,
                    room: *rm,
                    score: 1.0 - road.penalty - penalty(doubts),
                    road,
                    doubts,
                });
            }
        };
        let roads = self.candidate_roads(r, ctx);
        if !roads.is_empty() {
            for &(road, sim) in &roads {
                let fit = if sim >= 1.0 {
                    RoadFit::EXACT
                } else {
                    let weight = if confirmed_place {
                        FUZZY_ROAD_IN_PLACE
                    } else {
                        FUZZY_ROAD
                    };
                    RoadFit {
                        road,
                        penalty: (1.0 - sim) * weight,
                        how: RoadHow::Fuzzy,
                    }
                };
                // With door and building numbers the building is one lookup.
                if let (Some(Some(num)), Some(Some(bno))) = (number, building) {
                    if let Some(&b) = self.building_index.get(&(road, num, bno)) {
                        visit(b, fit, &mut out);
                    }
                    continue;
                }
                let list = &self.roads[road as usize].buildings;
                for &b in list.iter().take(MAX_BUILDINGS_PER_ROAD) {
                    visit(b, fit, &mut out);
                }
            }
        } else if !ctx.communities.is_empty() {
            let fit = RoadFit {
                road: NONE,
                penalty: NO_ROAD,
                how: RoadHow::Missing,
            };
            for &(c, _) in &ctx.communities {
                if let Some(list) = self.community_buildings.get(&c) {
                    for &b in list.iter().take(MAX_BUILDINGS_PER_COMMUNITY) {
                        visit(b, fit, &mut out);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_counts_edits() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert!((similarity(&c("建设路"), &c("建设路")) - 1.0).abs() < 1e-9);
        assert!((similarity(&c("建没路"), &c("建设路")) - 2.0 / 3.0).abs() < 1e-9);
        assert!(road_similarity(&c("张三建设路"), "建设路") > 0.99);
        assert!(road_similarity(&c("建设"), "建设路") > 0.99);
    }
}
