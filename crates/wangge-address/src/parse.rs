//! Reading a normalised address into its parts: the known names in it (one pass of an
//! Aho–Corasick automaton over every division, street, community and road name and their short
//! forms), and the numbers by their markers (12号, 3栋, 2单元, 5层, 501室, 3-2-501).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::base::{AddressBase, Map, NONE, new_map};
use crate::divisions::{self, DivisionLevel};
use crate::normalise::{is_cjk, normalise};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Province,
    City,
    District,
    Street,
    Community,
    Road,
    /// A division of the national table that the base does not name (its id is an index into
    /// `divisions::national().all()`): recognised so that it is not read as a road.
    National,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameRef {
    pub kind: NameKind,
    pub id: u32,
    /// The full name (with its suffix), not a short form.
    pub full: bool,
}

pub(crate) struct Gazetteer {
    automaton: Option<AhoCorasick>,
    meanings: Vec<Vec<NameRef>>,
}

pub(crate) struct GazetteerBuilder {
    index: Map<String, usize>,
    patterns: Vec<(String, Vec<NameRef>)>,
}

impl Gazetteer {
    pub(crate) fn builder() -> GazetteerBuilder {
        GazetteerBuilder {
            index: new_map(),
            patterns: Vec::new(),
        }
    }
}

fn short_form(name: &str, kind: NameKind) -> Option<String> {
    let level = match kind {
        NameKind::Province => Some(DivisionLevel::Province),
        NameKind::City => Some(DivisionLevel::City),
        NameKind::District => Some(DivisionLevel::County),
        _ => None,
    };
    if let Some(level) = level {
        return divisions::spellings(name, level).into_iter().nth(1);
    }
    let suffixes: &[&str] = match kind {
        NameKind::Street => &["街道办事处", "街道", "镇", "乡"],
        NameKind::Community => &["社区居委会", "居委会", "村委会", "社区", "村"],
        _ => &[],
    };
    let stem = suffixes.iter().find_map(|s| name.strip_suffix(s))?;
    (stem.chars().count() >= 2).then(|| stem.to_owned())
}

impl GazetteerBuilder {
    fn push(&mut self, pattern: &str, r: NameRef) {
        let i = *self.index.entry(pattern.to_owned()).or_insert_with(|| {
            self.patterns.push((pattern.to_owned(), Vec::new()));
            self.patterns.len() - 1
        });
        let list = &mut self.patterns[i].1;
        if !list.contains(&r) {
            list.push(r);
        }
    }

    /// A name of the base (already normalised) and its short form.
    pub(crate) fn add(&mut self, name: &str, kind: NameKind, id: u32) {
        if name.is_empty() || self.index.contains_key(name) && self.known(name, kind, id) {
            return;
        }
        self.push(
            name,
            NameRef {
                kind,
                id,
                full: true,
            },
        );
        if let Some(short) = short_form(name, kind) {
            self.push(
                &short,
                NameRef {
                    kind,
                    id,
                    full: false,
                },
            );
        }
    }

    fn known(&self, name: &str, kind: NameKind, id: u32) -> bool {
        self.index.get(name).is_some_and(|&i| {
            self.patterns[i]
                .1
                .iter()
                .any(|r| r.kind == kind && r.id == id)
        })
    }

    pub(crate) fn build(mut self) -> Gazetteer {
        for (i, d) in divisions::national().all().iter().enumerate() {
            for (k, s) in d.spellings().iter().enumerate() {
                // A base name wins over the national one it spells. A name with a numeral
                // (三门县) would normalise into digits and markers (3单元县) and be found in
                // every unit number: such names are left out.
                if self.index.contains_key(s.as_str()) || normalise(s) != *s {
                    continue;
                }
                self.push(
                    s,
                    NameRef {
                        kind: NameKind::National,
                        id: i as u32,
                        full: k == 0,
                    },
                );
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(self.patterns.iter().map(|(p, _)| p.as_str()))
            .or_else(|_| {
                // A DFA over a very large gazetteer can exceed its size limit; the contiguous
                // NFA is slower but has none.
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(self.patterns.iter().map(|(p, _)| p.as_str()))
            })
            .ok();
        Gazetteer {
            automaton,
            meanings: self.patterns.into_iter().map(|(_, m)| m).collect(),
        }
    }
}

/// A recognised name in the text: byte span and what it may mean.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub start: usize,
    pub end: usize,
    pub pattern: usize,
}

/// The numbered parts of an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Numbers {
    pub number: Option<String>,
    pub building: Option<String>,
    pub unit: Option<String>,
    pub floor: Option<String>,
    pub room: Option<String>,
}

/// An address read against the base, with ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reading {
    pub text: String,
    pub hits: Vec<Hit>,
    pub numbers: Numbers,
    /// The unrecognised characters where a road name stands (before the door number), for
    /// fuzzy matching.
    pub road_text: String,
}

impl Gazetteer {
    pub(crate) fn meanings(&self, pattern: usize) -> &[NameRef] {
        self.meanings.get(pattern).map_or(&[], |m| m)
    }

    fn hits(&self, text: &str) -> Vec<Hit> {
        let Some(ac) = &self.automaton else {
            return Vec::new();
        };
        ac.find_iter(text)
            .map(|m| Hit {
                start: m.start(),
                end: m.end(),
                pattern: m.pattern().as_usize(),
            })
            .collect()
    }
}

/// Reads the normalised text of an address.
pub(crate) fn read(gazetteer: &Gazetteer, text: &str) -> Reading {
    let normalised = normalise(text);
    let hits = gazetteer.hits(&normalised);
    let (numbers, first_number) = read_numbers(&normalised, &hits);
    let road_text = road_text(gazetteer, &normalised, &hits, first_number);
    Reading {
        text: normalised,
        hits,
        numbers,
        road_text,
    }
}

fn inside(hits: &[Hit], at: usize) -> Option<&Hit> {
    hits.iter().find(|h| h.start <= at && at < h.end)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Number,
    Building,
    Unit,
    Floor,
    Room,
    Bare,
}

fn marker_at(text: &str, at: usize) -> (Marker, usize) {
    let rest = &text[at..];
    for (m, kind) in [
        ("单元", Marker::Unit),
        ("号", Marker::Number),
        ("栋", Marker::Building),
        ("层", Marker::Floor),
        ("室", Marker::Room),
    ] {
        if rest.starts_with(m) {
            return (kind, m.len());
        }
    }
    (Marker::Bare, 0)
}

/// The numbers by their markers. 号 is the door number until a building, unit or floor has been
/// read, then a room; an unmarked number is the room when a building or unit came before it,
/// else the door number; a hyphen chain a-b-c is building-unit-room (with a door number before
/// it: 12号3-2-501), a-b-c-d is number-building-unit-room, a-b is building-room.
fn read_numbers(text: &str, hits: &[Hit]) -> (Numbers, Option<usize>) {
    let mut n = Numbers::default();
    let mut first = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(h) = inside(hits, i) {
            i = h.end;
            continue;
        }
        if !bytes[i].is_ascii_alphanumeric() {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
            i += 1;
        }
        let token = text[start..i].trim_matches('-');
        if token.is_empty() {
            continue;
        }
        // Letters alone before a marker are a building or unit (A座); a lone letter without
        // one is noise.
        let (marker, len) = marker_at(text, i);
        i += len;
        if token.bytes().all(|b| b.is_ascii_alphabetic()) && marker == Marker::Bare {
            continue;
        }
        first.get_or_insert(start);
        let pieces: Vec<&str> = token.split('-').filter(|p| !p.is_empty()).collect();
        if pieces.len() > 1 {
            let set = |slot: &mut Option<String>, v: &str| {
                if slot.is_none() {
                    *slot = Some(v.to_owned());
                }
            };
            match (pieces.len(), marker) {
                (2, Marker::Number) if n.number.is_none() => {
                    // 12-1号: a door number with a sub-number.
                    set(&mut n.number, token);
                }
                (2, _) => {
                    set(&mut n.building, pieces[0]);
                    set(&mut n.room, pieces[1]);
                }
                (3, _) => {
                    set(&mut n.building, pieces[0]);
                    set(&mut n.unit, pieces[1]);
                    set(&mut n.room, pieces[2]);
                }
                _ => {
                    let k = pieces.len();
                    set(&mut n.number, pieces[k - 4]);
                    set(&mut n.building, pieces[k - 3]);
                    set(&mut n.unit, pieces[k - 2]);
                    set(&mut n.room, pieces[k - 1]);
                }
            }
            continue;
        }
        let inner = n.building.is_some() || n.unit.is_some() || n.floor.is_some();
        // Right after a road's name, N号 is the door number even when the building came first
        // (3栋建设路12号2单元501室).
        let after_road = text[..start]
            .chars()
            .next_back()
            .is_some_and(|c| matches!(c, '路' | '街' | '道' | '巷' | '弄' | '里' | '同'));
        let slot = match marker {
            Marker::Number if (!inner || after_road) && n.number.is_none() => &mut n.number,
            Marker::Number | Marker::Room => &mut n.room,
            Marker::Building => &mut n.building,
            Marker::Unit => &mut n.unit,
            Marker::Floor => &mut n.floor,
            Marker::Bare if inner || n.number.is_some() => &mut n.room,
            Marker::Bare => &mut n.number,
        };
        if slot.is_none() {
            *slot = Some(token.to_owned());
        }
    }
    (n, first)
}

/// The CJK characters just before the door number, back to the end of the last full
/// division, street or community name: where the road's name stands, typed right or wrong.
/// When the address has no number, the last unrecognised CJK run.
fn road_text(gazetteer: &Gazetteer, text: &str, hits: &[Hit], first: Option<usize>) -> String {
    let end = first.unwrap_or(text.len());
    let mut start = 0;
    for h in hits {
        if h.end > end {
            break;
        }
        let admin_full = gazetteer.meanings(h.pattern).iter().any(|r| {
            r.full
                && matches!(
                    r.kind,
                    NameKind::Province
                        | NameKind::City
                        | NameKind::District
                        | NameKind::Street
                        | NameKind::Community
                        | NameKind::National
                )
        });
        if admin_full {
            start = h.end;
        }
    }
    let span = &text[start.min(end)..end];
    // Keep the trailing CJK run only (digits before it belong elsewhere).
    let tail: Vec<char> = span
        .chars()
        .rev()
        .take_while(|&c| is_cjk(c))
        .collect::<Vec<_>>();
    tail.into_iter().rev().collect()
}

/// An address read into its parts, for showing how it was understood.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The normalised text.
    pub normalised: String,
    /// The known names found, as `kind:name` (kind is province, city, district, street,
    /// community, road, or division for a national division the base does not hold).
    pub names: Vec<String>,
    pub number: Option<String>,
    pub building: Option<String>,
    pub unit: Option<String>,
    pub floor: Option<String>,
    pub room: Option<String>,
    /// Unrecognised text where the road name stands.
    pub road_text: String,
}

impl AddressBase {
    /// How an address is read: the names found and the numbers by their markers.
    pub fn parse(&self, text: &str) -> Parsed {
        let r = read(&self.gazetteer, text);
        let mut names = Vec::new();
        for h in &r.hits {
            for m in self.gazetteer.meanings(h.pattern) {
                let kind = match m.kind {
                    NameKind::Province => "province",
                    NameKind::City => "city",
                    NameKind::District => "district",
                    NameKind::Street => "street",
                    NameKind::Community => "community",
                    NameKind::Road => "road",
                    NameKind::National => "division",
                };
                let name = if m.kind == NameKind::National {
                    divisions::national()
                        .all()
                        .get(m.id as usize)
                        .map_or("", |d| d.name.as_str())
                } else if m.id == NONE {
                    ""
                } else {
                    self.names.name(m.id)
                };
                let s = format!("{kind}:{name}");
                if !names.contains(&s) {
                    names.push(s);
                }
            }
        }
        Parsed {
            normalised: r.text,
            names,
            number: r.numbers.number,
            building: r.numbers.building,
            unit: r.numbers.unit,
            floor: r.numbers.floor,
            room: r.numbers.room,
            road_text: r.road_text,
        }
    }
}
