//! The address base (地址库): every room of the house-code registry, held compactly in memory
//! for matching.
//!
//! Layout, chosen for millions of rooms:
//! - names (provinces … communities, roads) are interned once; numbers, buildings, units and
//!   rooms are interned symbols ("12", "3", "A", "501");
//! - a road is (district, road name); a building is (road, door number, building) with its
//!   street and community; a building's rooms are one slice of `rooms`, sorted by (unit, room);
//! - house codes are one string arena with offsets.
//!
//! Lookups: (road, number, building) → building; road → its buildings; community → its
//! buildings; a building's rooms by unit and room. The name automaton (`parse::Gazetteer`) finds
//! every known name in an address in one pass.

use std::collections::HashMap;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use crate::normalise::normalise;
use crate::parse::{Gazetteer, NameKind};

/// One room of the registry, as a house-code file or the database gives it. Parts a district
/// does not use are empty strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HouseEntry {
    pub house_code: String,
    pub grid_code: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub street: String,
    pub community: String,
    pub road: String,
    pub number: String,
    pub building: String,
    pub unit: String,
    pub room: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BaseError {
    #[error("house {0}: the house code is empty")]
    EmptyCode(usize),
    #[error("house code {0} appears twice")]
    DuplicateCode(String),
    #[error("house code {code}: has neither a road nor a community, so no address can reach it")]
    NoPlace { code: String },
}

/// A house of the base as a match shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseView<'a> {
    pub house_code: &'a str,
    pub grid_code: &'a str,
    /// The registered address as one line: 示范省示范市…路12号3栋2单元501室.
    pub address: String,
}

pub(crate) type Hasher = FixedState;
pub(crate) type Map<K, V> = HashMap<K, V, Hasher>;

pub(crate) fn new_map<K, V>() -> Map<K, V> {
    HashMap::with_hasher(FixedState::with_seed(0x5747_4745))
}

/// Interned short strings: numbers, buildings, units, rooms.
#[derive(Default)]
pub(crate) struct Symbols {
    ids: Option<Map<Box<str>, u32>>,
    names: Vec<Box<str>>,
}

pub(crate) const NONE: u32 = u32::MAX;

impl Symbols {
    fn intern(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return NONE;
        }
        let ids = self.ids.get_or_insert_with(new_map);
        if let Some(&id) = ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.into());
        ids.insert(s.into(), id);
        id
    }

    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        self.ids.as_ref()?.get(s).copied()
    }

    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |s| s)
    }
}

pub(crate) struct Road {
    pub name: u32,
    pub buildings: Vec<u32>,
}

pub(crate) struct Building {
    pub road: u32,
    pub number: u32,
    pub building: u32,
    pub province: u32,
    pub city: u32,
    pub district: u32,
    pub street: u32,
    pub community: u32,
    /// `rooms[first..first + count]`
    pub first: u32,
    pub count: u32,
}

#[derive(Clone, Copy)]
pub(crate) struct Room {
    pub unit: u32,
    pub room: u32,
    pub house: u32,
}

pub struct AddressBase {
    /// Province … community names and road names (one table: an id is an index).
    pub(crate) names: Symbols,
    /// Numbers, buildings, units, rooms.
    pub(crate) parts: Symbols,
    pub(crate) roads: Vec<Road>,
    /// Road name id → the roads of that name (one per district that has it).
    pub(crate) road_by_name: Map<u32, Vec<u32>>,
    pub(crate) buildings: Vec<Building>,
    /// (road, door number, building) → building, for roads that have a name.
    pub(crate) building_index: Map<(u32, u32, u32), u32>,
    pub(crate) rooms: Vec<Room>,
    /// Community name id → buildings.
    pub(crate) community_buildings: Map<u32, Vec<u32>>,
    /// Street name id → roads (for fuzzy road names inside a street).
    pub(crate) street_roads: Map<u32, Vec<u32>>,
    /// Community name id → roads.
    pub(crate) community_roads: Map<u32, Vec<u32>>,
    /// A road name's characters (its stem, without 路/街…) → roads: candidate retrieval for a
    /// mistyped road name when no street or community narrows the search.
    pub(crate) road_chars: Map<char, Vec<u32>>,
    pub(crate) codes: String,
    pub(crate) code_ends: Vec<u32>,
    pub(crate) grids: Symbols,
    pub(crate) house_grid: Vec<u32>,
    pub(crate) house_building: Vec<u32>,
    pub(crate) code_index: Map<u64, Vec<u32>>,
    pub(crate) gazetteer: Gazetteer,
}

/// A number, building, unit or room as a key: normalised, its marker and leading zeros dropped.
pub(crate) fn part_key(text: &str) -> String {
    normalised_part_key(&normalise(text)).to_owned()
}

/// [`part_key`] of text already normalised (as the numbers read from an address are).
pub(crate) fn normalised_part_key(n: &str) -> &str {
    let mut s = n;
    for m in ["单元", "号", "栋", "室", "层"] {
        if let Some(t) = s.strip_suffix(m) {
            s = t;
            break;
        }
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let t = s.trim_start_matches('0');
        if t.is_empty() && !s.is_empty() {
            "0"
        } else {
            t
        }
    } else {
        s
    }
}

impl AddressBase {
    /// Builds the base. Every house needs a code (unique) and a road or a community.
    pub fn build(entries: impl IntoIterator<Item = HouseEntry>) -> Result<AddressBase, BaseError> {
        let mut names = Symbols::default();
        let mut parts = Symbols::default();
        let mut grids = Symbols::default();
        let mut roads: Vec<Road> = Vec::new();
        let mut road_ids: Map<(u32, u32), u32> = new_map();
        let mut buildings: Vec<Building> = Vec::new();
        let mut building_ids: Map<(u32, u32, u32, u32), u32> = new_map();
        // Rooms per building while reading; laid out in one array at the end.
        let mut building_rooms: Vec<Vec<Room>> = Vec::new();
        let mut codes = String::new();
        let mut code_ends = Vec::new();
        let mut house_grid = Vec::new();
        let mut code_index: Map<u64, Vec<u32>> = new_map();
        let mut gazetteer = Gazetteer::builder();
        let hasher = FixedState::with_seed(7);
        let mut seen_names: [Map<String, u32>; 7] = std::array::from_fn(|_| new_map());

        for (i, e) in entries.into_iter().enumerate() {
            let code = e.house_code.trim();
            if code.is_empty() {
                return Err(BaseError::EmptyCode(i + 1));
            }
            let h = hasher.hash_one(code);
            let house = code_ends.len() as u32;
            if let Some(same) = code_index.get(&h)
                && same.iter().any(|&j| code_at(&codes, &code_ends, j) == code)
            {
                return Err(BaseError::DuplicateCode(code.to_owned()));
            }
            code_index.entry(h).or_default().push(house);
            codes.push_str(code);
            code_ends.push(codes.len() as u32);
            house_grid.push(grids.intern(e.grid_code.trim()));

            let mut name = |text: &str, kind: NameKind| -> u32 {
                // Names repeat on every room: normalise each spelling once.
                if let Some(&id) = seen_names[kind as usize].get(text) {
                    return id;
                }
                let n = normalise(text);
                let id = names.intern(&n);
                if id != NONE {
                    gazetteer.add(&n, kind, id);
                }
                seen_names[kind as usize].insert(text.to_owned(), id);
                id
            };
            let province = name(&e.province, NameKind::Province);
            let city = name(&e.city, NameKind::City);
            let district = name(&e.district, NameKind::District);
            let street = name(&e.street, NameKind::Street);
            let community = name(&e.community, NameKind::Community);
            let road_name = name(&e.road, NameKind::Road);
            if road_name == NONE && community == NONE {
                return Err(BaseError::NoPlace {
                    code: code.to_owned(),
                });
            }
            let road = *road_ids.entry((district, road_name)).or_insert_with(|| {
                roads.push(Road {
                    name: road_name,
                    buildings: Vec::new(),
                });
                (roads.len() - 1) as u32
            });
            let number = parts.intern(&part_key(&e.number));
            let building_no = parts.intern(&part_key(&e.building));
            // Without a road, the community keeps buildings apart.
            let apart = if road_name == NONE { community } else { NONE };
            let b = *building_ids
                .entry((road, number, building_no, apart))
                .or_insert_with(|| {
                    buildings.push(Building {
                        road,
                        number,
                        building: building_no,
                        province,
                        city,
                        district,
                        street,
                        community,
                        first: 0,
                        count: 0,
                    });
                    building_rooms.push(Vec::new());
                    (buildings.len() - 1) as u32
                });
            building_rooms[b as usize].push(Room {
                unit: parts.intern(&part_key(&e.unit)),
                room: parts.intern(&part_key(&e.room)),
                house,
            });
        }

        let mut rooms = Vec::with_capacity(code_ends.len());
        let mut house_building = vec![NONE; code_ends.len()];
        let mut community_buildings: Map<u32, Vec<u32>> = new_map();
        let mut street_roads: Map<u32, Vec<u32>> = new_map();
        let mut community_roads: Map<u32, Vec<u32>> = new_map();
        for (i, (b, mut rs)) in buildings.iter_mut().zip(building_rooms).enumerate() {
            rs.sort_by_key(|r| (r.unit, r.room));
            b.first = rooms.len() as u32;
            b.count = rs.len() as u32;
            for r in &rs {
                house_building[r.house as usize] = i as u32;
            }
            rooms.extend(rs);
            roads[b.road as usize].buildings.push(i as u32);
            if b.community != NONE {
                community_buildings
                    .entry(b.community)
                    .or_default()
                    .push(i as u32);
                let list = community_roads.entry(b.community).or_default();
                if !list.contains(&b.road) {
                    list.push(b.road);
                }
            }
            if b.street != NONE {
                let list = street_roads.entry(b.street).or_default();
                if !list.contains(&b.road) {
                    list.push(b.road);
                }
            }
        }
        let mut road_by_name: Map<u32, Vec<u32>> = new_map();
        for (i, r) in roads.iter().enumerate() {
            if r.name != NONE {
                road_by_name.entry(r.name).or_default().push(i as u32);
            }
        }
        let mut road_chars: Map<char, Vec<u32>> = new_map();
        for (i, r) in roads.iter().enumerate() {
            let mut seen: Vec<char> = Vec::new();
            for c in crate::matcher::road_stem(names.name(r.name)).chars() {
                if !seen.contains(&c) {
                    seen.push(c);
                    road_chars.entry(c).or_default().push(i as u32);
                }
            }
        }
        let building_index = building_ids
            .into_iter()
            .filter(|((road, ..), _)| roads[*road as usize].name != NONE)
            .map(|((road, n, b, _), i)| ((road, n, b), i))
            .collect();
        Ok(AddressBase {
            names,
            parts,
            roads,
            road_by_name,
            building_index,
            buildings,
            rooms,
            community_buildings,
            street_roads,
            community_roads,
            road_chars,
            codes,
            code_ends,
            grids,
            house_grid,
            house_building,
            code_index,
            gazetteer: gazetteer.build(),
        })
    }

    /// Rooms in the base.
    pub fn len(&self) -> usize {
        self.code_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.code_ends.is_empty()
    }

    pub(crate) fn code(&self, house: u32) -> &str {
        code_at(&self.codes, &self.code_ends, house)
    }

    pub(crate) fn grid(&self, house: u32) -> &str {
        self.house_grid
            .get(house as usize)
            .map_or("", |&g| self.grids.name(g))
    }

    pub(crate) fn building_rooms(&self, b: u32) -> &[Room] {
        let b = &self.buildings[b as usize];
        &self.rooms[b.first as usize..(b.first + b.count) as usize]
    }

    /// The house with this code.
    pub fn house(&self, code: &str) -> Option<HouseView<'_>> {
        let h = FixedState::with_seed(7).hash_one(code.trim());
        let house = *self
            .code_index
            .get(&h)?
            .iter()
            .find(|&&j| self.code(j) == code.trim())?;
        Some(self.view(house))
    }

    pub(crate) fn view(&self, house: u32) -> HouseView<'_> {
        HouseView {
            house_code: self.code(house),
            grid_code: self.grid(house),
            address: self.line(house),
        }
    }

    /// Where a house is: (building, room) indexes.
    fn locate(&self, house: u32) -> Option<(u32, &Room)> {
        let b = *self.house_building.get(house as usize)?;
        let room = self.building_rooms(b).iter().find(|r| r.house == house)?;
        Some((b, room))
    }

    pub(crate) fn line(&self, house: u32) -> String {
        match self.locate(house) {
            Some((b, r)) => self.line_of(b, r),
            None => String::new(),
        }
    }

    pub(crate) fn line_of(&self, b: u32, r: &Room) -> String {
        let b = &self.buildings[b as usize];
        let n = |id: u32| self.names.name(id);
        let p = |id: u32| self.parts.name(id);
        let mut s = String::new();
        for id in [b.province, b.city, b.district, b.street, b.community] {
            s.push_str(n(id));
        }
        s.push_str(n(self.roads[b.road as usize].name));
        for (id, mark) in [
            (b.number, "号"),
            (b.building, "栋"),
            (r.unit, "单元"),
            (r.room, "室"),
        ] {
            if id != NONE {
                s.push_str(p(id));
                s.push_str(mark);
            }
        }
        s
    }

    /// Roughly what the base holds in memory, in bytes.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.codes.len()
            + self.code_ends.len() * 4
            + self.house_grid.len() * 4
            + self.house_building.len() * 4
            + self.rooms.len() * size_of::<Room>()
            + self.buildings.len() * (size_of::<Building>() + 16 + 8)
            + self.code_index.len() * 40
            + self.roads.len() * (size_of::<Road>() + 16)
    }
}

fn code_at<'a>(codes: &'a str, ends: &[u32], i: u32) -> &'a str {
    let end = ends.get(i as usize).copied().unwrap_or(0) as usize;
    let start = if i == 0 {
        0
    } else {
        ends.get(i as usize - 1).copied().unwrap_or(0) as usize
    };
    codes.get(start..end).unwrap_or("")
}
