//! Citizen-declared records with known truth (issue 7): what people type into a census form's
//! address box, made from the rooms of a `houses.csv`, so the address matcher's accuracy can be
//! measured.
//!
//! Each record is a person (a valid GB 11643 identity number, a name, usually a mobile number)
//! declaring the room they live in, written the way people write it. The `noise` column names
//! what was done to the address (`clean` when nothing was):
//!
//! - `typo` — one character of the road or community name replaced by one that looks or sounds
//!   alike (和平路 → 合平路); never one that makes another name of the base;
//! - `numerals` — 十二号, 二〇一室, 三栋, full-width ５０１;
//! - `variant` — 幢/座/号楼 for 栋, 门 for 单元, 房/号 for 室, or the 3-2-501 hyphen form;
//! - `missing` — province, city, district, street or community left out (the district only
//!   when the street or community stays, so the address still names one room), and the unit
//!   of a building that has only one;
//! - `order` — the community after the road, or the building before the road;
//! - `extra` — a phone number, a name, 附近, punctuation, spaces, brackets.
//!
//! About 3 % of the records declare a room that does not exist in the base (a floor above the
//! building's top, a unit or building it does not have): their `true_house_code` is empty, so
//! a matcher's precision can be measured. About 3 % are the same person declared again with the
//! address typed anew (`true_duplicate_of` names the first record); a third of those leave the
//! identity number out, so only name, phone and house tie them together.
//!
//! Deterministic for a seed, house file and count, whatever the number of cores: records are
//! made in fixed chunks, each from its own random stream, and written in order. Only the rooms
//! are held in memory (about 60 bytes each), never the records.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use wangge_domain::identity::IdentityNumber;

use crate::generate_registry::{LOCAL_COUNTIES, Namer, OTHER_COUNTIES};

pub const DECLARED_COLUMNS: [&str; 8] = [
    "record_id",
    "name",
    "identity_number",
    "phone",
    "address",
    "true_house_code",
    "true_duplicate_of",
    "noise",
];

/// The address parts read from a houses file, in the order they are written.
pub const PART_COLUMNS: [&str; 10] = [
    "province",
    "city",
    "district",
    "street",
    "community",
    "road",
    "number",
    "building",
    "unit",
    "room",
];

const PROVINCE: usize = 0;
const CITY: usize = 1;
const DISTRICT: usize = 2;
const STREET: usize = 3;
const COMMUNITY: usize = 4;
const ROAD: usize = 5;
const NUMBER: usize = 6;
const BUILDING: usize = 7;
const UNIT: usize = 8;
const ROOM: usize = 9;

/// Share of records whose room is not in the base.
pub const ABSENT_SHARE: f64 = 0.03;
/// Share of records that declare an earlier record's person again.
pub const DUPLICATE_SHARE: f64 = 0.03;
/// Share of records written as the base has them.
pub const CLEAN_SHARE: f64 = 0.12;
/// Records made from one random stream; the unit of parallel work.
pub const CHUNK: u64 = 16_384;

const MULTI_UNIT: u32 = u32::MAX;

/// The rooms of a houses file, compactly: part texts are interned, buildings shared.
pub struct HouseTable {
    names: Vec<String>,
    name_ids: HashMap<String, u32>,
    /// province … building, as name ids.
    buildings: Vec<[u32; 8]>,
    building_ids: HashMap<[u32; 8], u32>,
    /// The one unit a building has, or `MULTI_UNIT`.
    building_unit: Vec<u32>,
    /// building, unit, room.
    rooms: Vec<(u32, u32, u32)>,
    room_set: HashSet<(u32, u32, u32)>,
    codes: String,
    code_ends: Vec<usize>,
}

fn header_position(header: &csv::StringRecord, name: &str) -> Option<usize> {
    header.iter().position(|h| {
        let h = h.strip_prefix('\u{feff}').unwrap_or(h).trim();
        h.eq_ignore_ascii_case(name)
    })
}

impl HouseTable {
    fn empty() -> HouseTable {
        HouseTable {
            names: Vec::new(),
            name_ids: HashMap::new(),
            buildings: Vec::new(),
            building_ids: HashMap::new(),
            building_unit: Vec::new(),
            rooms: Vec::new(),
            room_set: HashSet::new(),
            codes: String::new(),
            code_ends: Vec::new(),
        }
    }

    /// Reads `house_code` and the address parts of every row of a houses CSV (UTF-8, with or
    /// without a BOM), such as `wangge generate city` or `generate registry` write.
    pub fn read(path: &Path) -> Result<HouseTable> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
        let header = rdr
            .headers()
            .with_context(|| format!("cannot read the header of {}", path.display()))?
            .clone();
        let find = |name: &str| {
            header_position(&header, name).with_context(|| {
                format!(
                    "{} has no '{name}' column (a houses file has house_code, {})",
                    path.display(),
                    PART_COLUMNS.join(", ")
                )
            })
        };
        let code_at = find("house_code")?;
        let mut at = [0usize; 10];
        for (i, name) in PART_COLUMNS.iter().enumerate() {
            at[i] = find(name)?;
        }
        let mut table = HouseTable::empty();
        let mut rec = csv::StringRecord::new();
        let mut line = 1u64;
        loop {
            match rdr.read_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", path.display()));
                }
            }
            line += 1;
            let code = rec.get(code_at).unwrap_or("").trim();
            if code.is_empty() {
                bail!("{} row {line}: house_code is empty", path.display());
            }
            let parts = at.map(|i| rec.get(i).unwrap_or("").trim());
            table.push(code, parts);
        }
        if table.is_empty() {
            bail!("{} holds no houses", path.display());
        }
        Ok(table)
    }

    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(text) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(text.to_owned());
        self.name_ids.insert(text.to_owned(), id);
        id
    }

    fn push(&mut self, code: &str, parts: [&str; 10]) {
        let mut key = [0u32; 8];
        for (k, p) in key.iter_mut().zip(parts) {
            *k = self.intern(p);
        }
        let unit = self.intern(parts[UNIT]);
        let room = self.intern(parts[ROOM]);
        let building = match self.building_ids.get(&key) {
            Some(&b) => {
                let first = &mut self.building_unit[b as usize];
                if *first != unit {
                    *first = MULTI_UNIT;
                }
                b
            }
            None => {
                let b = self.buildings.len() as u32;
                self.buildings.push(key);
                self.building_ids.insert(key, b);
                self.building_unit.push(unit);
                b
            }
        };
        self.rooms.push((building, unit, room));
        self.room_set.insert((building, unit, room));
        self.codes.push_str(code);
        self.code_ends.push(self.codes.len());
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// The house code of room `i`.
    pub fn code(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.code_ends[i - 1] };
        &self.codes[start..self.code_ends[i]]
    }

    /// The address parts of room `i`, in [`PART_COLUMNS`] order.
    pub fn parts(&self, i: usize) -> [&str; 10] {
        let (b, u, r) = self.rooms[i];
        let key = &self.buildings[b as usize];
        let mut out = [""; 10];
        for (o, &id) in out.iter_mut().zip(key.iter()) {
            *o = &self.names[id as usize];
        }
        out[UNIT] = &self.names[u as usize];
        out[ROOM] = &self.names[r as usize];
        out
    }

    fn single_unit(&self, i: usize) -> bool {
        self.building_unit[self.rooms[i].0 as usize] != MULTI_UNIT
    }

    /// Whether a room with these parts is in the base.
    fn exists(&self, parts: &[String; 10]) -> bool {
        let id = |s: &String| self.name_ids.get(s.as_str()).copied();
        let mut key = [0u32; 8];
        for (k, p) in key.iter_mut().zip(parts.iter()) {
            match id(p) {
                Some(v) => *k = v,
                None => return false,
            }
        }
        let (Some(b), Some(u), Some(r)) = (
            self.building_ids.get(&key),
            id(&parts[UNIT]),
            id(&parts[ROOM]),
        ) else {
            return false;
        };
        self.room_set.contains(&(*b, u, r))
    }

    fn is_name(&self, text: &str) -> bool {
        self.name_ids.contains_key(text)
    }
}

// ---------------------------------------------------------------------------------------------
// Noise kinds

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Noise {
    Typo,
    Numerals,
    Variant,
    Missing,
    Order,
    Extra,
}

impl Noise {
    pub const ALL: [Noise; 6] = [
        Noise::Typo,
        Noise::Numerals,
        Noise::Variant,
        Noise::Missing,
        Noise::Order,
        Noise::Extra,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Noise::Typo => "typo",
            Noise::Numerals => "numerals",
            Noise::Variant => "variant",
            Noise::Missing => "missing",
            Noise::Order => "order",
            Noise::Extra => "extra",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// How often a noisy record gets this kind (each drawn on its own).
    fn share(self) -> f64 {
        match self {
            Noise::Typo => 0.25,
            Noise::Numerals => 0.35,
            Noise::Variant => 0.35,
            Noise::Missing => 0.4,
            Noise::Order => 0.2,
            Noise::Extra => 0.35,
        }
    }
}

/// The noise kinds applied to one address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoiseSet(u8);

impl NoiseSet {
    pub fn contains(self, n: Noise) -> bool {
        self.0 & n.bit() != 0
    }

    pub fn is_clean(self) -> bool {
        self.0 == 0
    }

    fn insert(&mut self, n: Noise) {
        self.0 |= n.bit();
    }

    fn remove(&mut self, n: Noise) {
        self.0 &= !n.bit();
    }

    pub fn iter(self) -> impl Iterator<Item = Noise> {
        Noise::ALL.into_iter().filter(move |n| self.contains(*n))
    }

    /// `clean`, or the kinds joined by `+` (`typo+numerals`).
    pub fn label(self) -> String {
        if self.is_clean() {
            return "clean".into();
        }
        self.iter().map(Noise::as_str).collect::<Vec<_>>().join("+")
    }

    /// Reads a label written by [`NoiseSet::label`]; unknown words are ignored.
    pub fn parse(text: &str) -> NoiseSet {
        let mut set = NoiseSet::default();
        for word in text.split('+') {
            if let Some(n) = Noise::ALL.into_iter().find(|n| n.as_str() == word.trim()) {
                set.insert(n);
            }
        }
        set
    }
}

// ---------------------------------------------------------------------------------------------
// Records

/// One declared record.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// 1, 2, … in file order.
    pub record_id: u64,
    pub name: String,
    /// Empty when the person left it out (some re-declarations).
    pub identity_number: String,
    pub phone: String,
    pub address: String,
    /// The room meant (an index into the [`HouseTable`]), `None` for a room not in the base.
    pub truth: Option<u32>,
    /// The earlier record of the same person.
    pub duplicate_of: Option<u64>,
    pub noise: NoiseSet,
}

/// Someone who declared once and may declare again.
#[derive(Clone)]
struct Person {
    record_id: u64,
    name: String,
    identity_number: String,
    phone: String,
    house: u32,
}

/// Identity numbers, unique for every index below `capacity` by construction: the index is
/// spread over (county, birth day, sequence) by a multiplication modulo their product.
struct Identities {
    counties: Vec<&'static str>,
    first_day: i32,
    days: u64,
    capacity: u64,
}

const SPREAD: u128 = 1_000_000_007;

impl Identities {
    fn new() -> Identities {
        let counties: Vec<&'static str> = LOCAL_COUNTIES
            .iter()
            .chain(OTHER_COUNTIES)
            .map(|c| c.0)
            .collect();
        // Adults on the registry's reference day: born 1940 … 2006.
        let first = NaiveDate::from_ymd_opt(1940, 1, 1).map_or(0, |d| d.num_days_from_ce());
        let last = NaiveDate::from_ymd_opt(2006, 12, 31).map_or(0, |d| d.num_days_from_ce());
        let days = (last - first + 1).max(1) as u64;
        Identities {
            capacity: counties.len() as u64 * days * 1000,
            counties,
            first_day: first,
            days,
        }
    }

    /// The identity number of person `index`, and whether he is male.
    fn make(&self, index: u64, out: &mut String) -> bool {
        let spread = ((u128::from(index) * SPREAD + 12_345) % u128::from(self.capacity)) as u64;
        let county = self.counties[(spread % self.counties.len() as u64) as usize];
        let rest = spread / self.counties.len() as u64;
        let day = self.first_day + (rest % self.days) as i32;
        let seq = rest / self.days;
        let birth = NaiveDate::from_num_days_from_ce_opt(day).unwrap_or(NaiveDate::MIN);
        out.clear();
        let _ = write!(
            out,
            "{county}{:04}{:02}{:02}{seq:03}",
            birth.year(),
            birth.month(),
            birth.day()
        );
        let check = IdentityNumber::check_char(out);
        out.push(check);
        seq % 2 == 1
    }
}

/// What makes records: the rooms, names and identity numbers.
pub struct Generator<'a> {
    table: &'a HouseTable,
    seed: u64,
    count: u64,
    namer: Namer,
    ids: Identities,
}

impl<'a> Generator<'a> {
    pub fn new(table: &'a HouseTable, seed: u64, count: u64) -> Result<Generator<'a>> {
        let ids = Identities::new();
        if count > ids.capacity {
            bail!(
                "at most {} records: the identity numbers would repeat",
                ids.capacity
            );
        }
        if table.is_empty() {
            bail!("no houses to declare");
        }
        Ok(Generator {
            table,
            seed,
            count,
            namer: Namer::new(),
            ids,
        })
    }

    pub fn chunks(&self) -> u64 {
        self.count.div_ceil(CHUNK)
    }

    /// The records of chunk `k` (records `k·CHUNK + 1 …`).
    pub fn chunk(&self, k: u64) -> Vec<Declared> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6465_636c_6172_6564);
        rng.set_stream(k);
        let first = k * CHUNK;
        let last = (first + CHUNK).min(self.count);
        let mut recent: Vec<Person> = Vec::with_capacity(512);
        let mut out = Vec::with_capacity((last.saturating_sub(first)) as usize);
        for index in first..last {
            let record_id = index + 1;
            if !recent.is_empty() && rng.random_bool(DUPLICATE_SHARE) {
                let p = recent[rng.random_range(0..recent.len())].clone();
                let (address, noise) = self.address(&mut rng, p.house as usize, false, &p);
                // A third leave the identity number out: name, phone and house tie them.
                let identity_number = if !p.phone.is_empty() && rng.random_bool(1.0 / 3.0) {
                    String::new()
                } else {
                    p.identity_number.clone()
                };
                out.push(Declared {
                    record_id,
                    name: p.name,
                    identity_number,
                    phone: p.phone,
                    address,
                    truth: Some(p.house),
                    duplicate_of: Some(p.record_id),
                    noise,
                });
                continue;
            }
            let mut identity = String::new();
            let male = self.ids.make(index, &mut identity);
            let mut name = String::new();
            let surname = self.namer.surname(&mut rng);
            self.namer.name(&mut rng, surname, male, &mut name);
            let mut phone = String::new();
            if rng.random_bool(0.9) {
                self.namer.phone(&mut rng, &mut phone);
            }
            let house = rng.random_range(0..self.table.len());
            let absent = rng.random_bool(ABSENT_SHARE);
            let person = Person {
                record_id,
                name,
                identity_number: identity,
                phone,
                house: house as u32,
            };
            let (address, noise) = self.address(&mut rng, house, absent, &person);
            let truth = (!absent).then_some(house as u32);
            if !absent {
                if recent.len() < 512 {
                    recent.push(person.clone());
                } else {
                    let slot = rng.random_range(0..recent.len());
                    recent[slot] = person.clone();
                }
            }
            out.push(Declared {
                record_id,
                name: person.name,
                identity_number: person.identity_number,
                phone: person.phone,
                address,
                truth,
                duplicate_of: None,
                noise,
            });
        }
        out
    }

    /// The declared address of room `house` (of a room near it that does not exist when
    /// `absent`), with the noise applied.
    fn address(
        &self,
        rng: &mut ChaCha8Rng,
        house: usize,
        absent: bool,
        person: &Person,
    ) -> (String, NoiseSet) {
        let mut parts: [String; 10] = self.table.parts(house).map(str::to_owned);
        if absent {
            self.make_absent(rng, &mut parts);
        }
        let mut noise = NoiseSet::default();
        if !rng.random_bool(CLEAN_SHARE) {
            for n in Noise::ALL {
                if rng.random_bool(n.share()) {
                    noise.insert(n);
                }
            }
            if noise.is_clean() {
                noise.insert(Noise::ALL[rng.random_range(0..Noise::ALL.len())]);
            }
        }
        let single_unit = !absent && self.table.single_unit(house);
        let text = self.render(rng, &mut parts, &mut noise, single_unit, person);
        (text, noise)
    }

    /// Changes a room's parts into a room that is not in the base: a floor above the top, a
    /// unit or a building the address does not have.
    fn make_absent(&self, rng: &mut ChaCha8Rng, parts: &mut [String; 10]) {
        let original = parts.clone();
        for attempt in 0..16 {
            *parts = original.clone();
            let number = |s: &str| s.parse::<u32>().ok();
            match (attempt + rng.random_range(0..3)) % 3 {
                0 => match number(&parts[ROOM]) {
                    Some(r) => {
                        let floor = r / 100 + rng.random_range(3..=15);
                        parts[ROOM] = format!("{}", floor * 100 + r % 100);
                    }
                    None => parts[ROOM] = format!("{}0{}", parts[ROOM], rng.random_range(1..9)),
                },
                1 => match number(&parts[UNIT]) {
                    Some(u) => parts[UNIT] = format!("{}", u + rng.random_range(1..=3)),
                    None => parts[UNIT] = format!("{}", rng.random_range(5..=9)),
                },
                _ => match number(&parts[BUILDING]) {
                    Some(b) => parts[BUILDING] = format!("{}", b + rng.random_range(20..=60)),
                    None => parts[BUILDING] = format!("{}", rng.random_range(60..=99)),
                },
            }
            if !self.table.exists(parts) {
                return;
            }
        }
        parts[BUILDING] = format!("{}{}", parts[BUILDING], 999);
    }

    fn render(
        &self,
        rng: &mut ChaCha8Rng,
        parts: &mut [String; 10],
        noise: &mut NoiseSet,
        single_unit: bool,
        person: &Person,
    ) -> String {
        if noise.contains(Noise::Typo) && !self.typo(rng, parts) {
            noise.remove(Noise::Typo);
        }
        if noise.contains(Noise::Missing) && !drop_parts(rng, parts, single_unit) {
            noise.remove(Noise::Missing);
        }
        // Numbers with their markers.
        let hyphen = noise.contains(Noise::Variant)
            && !parts[BUILDING].is_empty()
            && !parts[ROOM].is_empty()
            && rng.random_bool(0.3);
        let numerals = noise.contains(Noise::Numerals);
        let mut any_numeral = false;
        let mut num = |rng: &mut ChaCha8Rng, text: &str, which: usize| -> String {
            if !numerals || !rng.random_bool(0.6) {
                return text.to_owned();
            }
            match numeral_form(rng, text, which, hyphen) {
                Some(t) => {
                    any_numeral = true;
                    t
                }
                None => text.to_owned(),
            }
        };
        let variant = noise.contains(Noise::Variant);
        let mut any_variant = hyphen;
        let road_seg = if parts[NUMBER].is_empty() {
            parts[ROAD].clone()
        } else {
            format!("{}{}号", parts[ROAD], num(rng, &parts[NUMBER], NUMBER))
        };
        let mut rooms_segs: Vec<String> = Vec::new();
        if hyphen {
            let b = num(rng, &parts[BUILDING], BUILDING);
            let r = num(rng, &parts[ROOM], ROOM);
            let mut s = if parts[UNIT].is_empty() {
                format!("{b}-{r}")
            } else {
                format!("{b}-{}-{r}", num(rng, &parts[UNIT], UNIT))
            };
            if rng.random_bool(0.3) {
                s.push('室');
            }
            rooms_segs.push(s);
        } else {
            let mut suffix =
                |rng: &mut ChaCha8Rng, plain: &'static str, others: &[&'static str]| {
                    if variant && rng.random_bool(0.6) {
                        any_variant = true;
                        others[rng.random_range(0..others.len())]
                    } else {
                        plain
                    }
                };
            if !parts[BUILDING].is_empty() {
                let s = suffix(rng, "栋", &["幢", "座", "号楼"]);
                rooms_segs.push(format!("{}{s}", num(rng, &parts[BUILDING], BUILDING)));
            }
            if !parts[UNIT].is_empty() {
                let s = suffix(rng, "单元", &["门"]);
                rooms_segs.push(format!("{}{s}", num(rng, &parts[UNIT], UNIT)));
            }
            if !parts[ROOM].is_empty() {
                let s = suffix(rng, "室", &["房", "号"]);
                rooms_segs.push(format!("{}{s}", num(rng, &parts[ROOM], ROOM)));
            }
        }
        if !any_numeral {
            noise.remove(Noise::Numerals);
        }
        if !any_variant {
            noise.remove(Noise::Variant);
        }

        // Segments in order: divisions, community, road and door number, building/unit/room.
        let admin: Vec<&str> = [PROVINCE, CITY, DISTRICT, STREET]
            .iter()
            .map(|&i| parts[i].as_str())
            .filter(|s| !s.is_empty())
            .collect();
        let community = parts[COMMUNITY].as_str();
        let mut segs: Vec<String> = admin.iter().map(|s| (*s).to_owned()).collect();
        let extra = noise.contains(Noise::Extra);
        let bracket_community = extra && !community.is_empty() && rng.random_bool(0.25);
        let community_seg = if bracket_community {
            format!("（{community}）")
        } else {
            community.to_owned()
        };
        let mut road_seg = road_seg;
        if extra && rng.random_bool(0.3) {
            road_seg.push_str("附近");
        }
        let rooms_text = rooms_segs.concat();
        let order = if noise.contains(Noise::Order) {
            if !community.is_empty() && (rooms_text.is_empty() || rng.random_bool(0.5)) {
                1
            } else if !rooms_text.is_empty() {
                2
            } else {
                0
            }
        } else {
            0
        };
        if order == 0 {
            noise.remove(Noise::Order);
        }
        match order {
            // The community after the road.
            1 => {
                segs.push(road_seg);
                segs.push(community_seg);
                segs.push(rooms_text);
            }
            // The building before the road.
            2 => {
                segs.push(community_seg);
                segs.push(rooms_text);
                segs.push(road_seg);
            }
            _ => {
                segs.push(community_seg);
                segs.push(road_seg);
                segs.push(rooms_text);
            }
        }
        segs.retain(|s| !s.is_empty());

        let mut out = String::with_capacity(96);
        if !extra {
            for s in &segs {
                out.push_str(s);
            }
            return out;
        }
        // Extra noise: separators between segments, a name or phone before or after, brackets.
        let sep_kind = rng.random_range(0..4);
        for (i, s) in segs.iter().enumerate() {
            if i > 0 {
                match sep_kind {
                    1 => out.push(' '),
                    2 if rng.random_bool(0.5) => out.push('，'),
                    3 if rng.random_bool(0.3) => {
                        out.push_str(["、", ",", "-", "  "][rng.random_range(0..4)])
                    }
                    _ => {}
                }
            }
            out.push_str(s);
        }
        let mut phone = person.phone.clone();
        if phone.is_empty() {
            self.namer.phone(rng, &mut phone);
        }
        match rng.random_range(0..6) {
            0 => out = format!("{} {out}", person.name),
            1 => out.push_str(&format!("（{}）", person.name)),
            2 => out.push_str(&format!(" 电话{phone}")),
            3 => out = format!("{phone} {out}"),
            4 => out.push_str(&format!(" {} {phone}", person.name)),
            _ => out.push_str(["。", "！", "，", " ", "【】"][rng.random_range(0..5)]),
        }
        if rng.random_bool(0.2) {
            out = format!(" {out} ");
        }
        out
    }

    /// One character of the road's or the community's name replaced by a look-alike or
    /// sound-alike that makes no other name of the base.
    fn typo(&self, rng: &mut ChaCha8Rng, parts: &mut [String; 10]) -> bool {
        let first = if rng.random_bool(0.6) {
            ROAD
        } else {
            COMMUNITY
        };
        for which in [first, if first == ROAD { COMMUNITY } else { ROAD }] {
            let name = &parts[which];
            let stem_len = name.chars().count() - name_suffix_chars(name, which);
            let mut spots: Vec<(usize, &'static str)> = name
                .chars()
                .take(stem_len)
                .enumerate()
                .filter_map(|(i, c)| similar(c).map(|s| (i, s)))
                .collect();
            while !spots.is_empty() {
                let (pos, alikes) = spots.swap_remove(rng.random_range(0..spots.len()));
                let alikes: Vec<char> = alikes.chars().collect();
                let with = alikes[rng.random_range(0..alikes.len())];
                let changed: String = name
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i == pos { with } else { c })
                    .collect();
                if !self.table.is_name(&changed) {
                    parts[which] = changed;
                    return true;
                }
            }
        }
        false
    }
}

/// Leaves parts out; answers whether any was.
fn drop_parts(rng: &mut ChaCha8Rng, parts: &mut [String; 10], single_unit: bool) -> bool {
    let mut dropped = false;
    // A prefix of province, city, district.
    let upto = rng.random_range(0..=3);
    for part in parts.iter_mut().take(upto) {
        dropped |= !part.is_empty();
        part.clear();
    }
    let street_stays = !parts[STREET].is_empty();
    let community_stays = !parts[COMMUNITY].is_empty();
    // Road names repeat across districts: without the district, keep the street or community.
    let district_gone = parts[DISTRICT].is_empty();
    let drop_street = rng.random_bool(0.4);
    let drop_community = rng.random_bool(0.3);
    if drop_street && street_stays && (community_stays || !district_gone) {
        parts[STREET].clear();
        dropped = true;
    }
    if drop_community && community_stays && (!parts[STREET].is_empty() || !district_gone) {
        parts[COMMUNITY].clear();
        dropped = true;
    }
    if single_unit && !parts[UNIT].is_empty() && rng.random_bool(0.3) {
        parts[UNIT].clear();
        dropped = true;
    }
    if !dropped && !parts[PROVINCE].is_empty() {
        parts[PROVINCE].clear();
        dropped = true;
    }
    dropped
}

/// Characters at the end of a road's or community's name that say what it is.
fn name_suffix_chars(name: &str, which: usize) -> usize {
    let suffixes: &[&str] = if which == ROAD {
        &["大道", "大街", "路", "街", "巷"]
    } else {
        &["社区", "村"]
    };
    suffixes
        .iter()
        .find(|s| name.ends_with(**s))
        .map_or(0, |s| s.chars().count())
}

/// Look-alike and sound-alike characters of those in the generated names.
const SIMILAR: &[(char, &str)] = &[
    ('和', "合禾"),
    ('平', "评苹坪"),
    ('解', "介"),
    ('放', "方仿"),
    ('建', "健见"),
    ('设', "社"),
    ('人', "入仁"),
    ('民', "明名"),
    ('中', "钟忠"),
    ('山', "三衫"),
    ('新', "心欣"),
    ('华', "化花"),
    ('胜', "圣"),
    ('利', "力立"),
    ('友', "有"),
    ('谊', "义"),
    ('光', "广"),
    ('明', "名鸣"),
    ('幸', "兴"),
    ('福', "付富"),
    ('文', "闻"),
    ('化', "华"),
    ('体', "休"),
    ('育', "玉"),
    ('青', "清晴"),
    ('年', "念"),
    ('工', "公"),
    ('农', "浓"),
    ('主', "住"),
    ('团', "图"),
    ('结', "洁"),
    ('东', "冬"),
    ('西', "茜"),
    ('风', "峰枫"),
    ('长', "常张"),
    ('江', "将姜"),
    ('黄', "皇"),
    ('河', "何合"),
    ('珠', "朱株"),
    ('汉', "汗"),
    ('阳', "杨洋"),
    ('武', "午五"),
    ('昌', "唱倡"),
    ('紫', "子梓"),
    ('首', "手"),
    ('义', "议"),
    ('晴', "清情"),
    ('川', "穿"),
    ('沿', "延铅"),
    ('滨', "宾彬"),
    ('湖', "胡糊"),
    ('复', "夏福"),
    ('兴', "星幸"),
    ('振', "震"),
    ('征', "正争"),
    ('延', "廷言"),
    ('安', "按案"),
    ('南', "楠男"),
    ('京', "经景"),
    ('北', "背"),
    ('上', "尚"),
    ('海', "每梅"),
    ('花', "化华"),
    ('园', "圆元"),
    ('公', "工功"),
    ('学', "雪"),
    ('府', "付"),
    ('才', "材财"),
    ('科', "料棵"),
    ('技', "枝计"),
    ('创', "仓"),
    ('业', "叶"),
    ('林', "琳淋"),
    ('桂', "挂"),
    ('樱', "婴缨"),
    ('梧', "吾"),
    ('桐', "同铜"),
    ('银', "很根"),
    ('杏', "幸"),
    ('丹', "舟单"),
    ('翠', "萃"),
    ('柳', "卯聊"),
    ('金', "全今"),
    ('桥', "乔侨"),
    ('玉', "王"),
    ('带', "戴代"),
    ('彩', "采菜"),
    ('虹', "红宏"),
    ('前', "钱"),
    ('进', "近井"),
    ('红', "虹宏"),
    ('旗', "棋期"),
    ('朝', "潮超"),
    ('万', "方"),
    ('松', "送淞"),
    ('荆', "京菁"),
    ('积', "织迹"),
    ('定', "订锭"),
    ('太', "大泰"),
    ('锦', "绵棉"),
    ('绣', "锈秀"),
    ('荷', "何"),
    ('桃', "逃陶"),
    ('岸', "按"),
    ('梅', "海"),
    ('竹', "竺"),
    ('泰', "秦"),
    ('望', "忘旺"),
    ('临', "林"),
    ('富', "福"),
    ('强', "墙"),
    ('永', "水泳"),
    ('隆', "龙"),
    ('里', "理"),
    ('苑', "宛院"),
    ('坊', "访方"),
    ('湾', "弯"),
    ('门', "们"),
    ('岭', "领玲"),
    ('港', "巷"),
    ('庄', "装桩"),
    ('坪', "平评"),
    ('台', "抬苔"),
    ('桥', "乔"),
    ('松', "淞"),
    ('银', "根"),
    ('积', "迹"),
    ('民', "名"),
    ('主', "住"),
    ('泰', "太"),
    ('华', "哗"),
];

fn similar(c: char) -> Option<&'static str> {
    SIMILAR.iter().find(|(k, _)| *k == c).map(|(_, v)| *v)
}

const ZH_DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// 12 → 十二, 101 → 一百零一, 110 → 一百一十, 2005 → 二千零五.
pub fn chinese_count(n: u32) -> String {
    if n == 0 {
        return "零".into();
    }
    if n >= 10_000 {
        return n.to_string();
    }
    let digits = [n / 1000, n / 100 % 10, n / 10 % 10, n % 10];
    let units = ["千", "百", "十", ""];
    let mut out = String::new();
    let mut zero = false;
    let mut started = false;
    for (i, &d) in digits.iter().enumerate() {
        if d == 0 {
            zero = started;
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        // 十二, not 一十二, when the tens lead.
        if !(i == 2 && d == 1 && !started) {
            out.push(ZH_DIGITS[d as usize]);
        }
        out.push_str(units[i]);
        started = true;
    }
    out
}

/// 201 → 二〇一 (or 二零一).
pub fn chinese_digits(text: &str, zero: char) -> String {
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(0) => zero,
            Some(d) => ZH_DIGITS[d as usize],
            None => c,
        })
        .collect()
}

/// ５０１.
pub fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// A number written another way, or `None` when the part is not a plain number.
fn numeral_form(rng: &mut ChaCha8Rng, text: &str, which: usize, hyphen: bool) -> Option<String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = text.parse().ok()?;
    if hyphen {
        return Some(full_width(text));
    }
    let r = rng.random_range(0..10);
    Some(match which {
        ROOM => match r {
            0..6 => chinese_digits(text, if rng.random_bool(0.7) { '〇' } else { '零' }),
            6..8 => chinese_count(n),
            _ => full_width(text),
        },
        NUMBER => match r {
            0..5 if n < 10_000 => chinese_count(n),
            0..7 => chinese_digits(text, '〇'),
            _ => full_width(text),
        },
        _ => match r {
            0..7 => chinese_count(n),
            _ => full_width(text),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// The file

/// What `write_declared` wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeclaredStats {
    pub records: u64,
    pub absent: u64,
    pub duplicates: u64,
    pub clean: u64,
}

fn write_chunk(table: &HouseTable, records: &[Declared]) -> Result<(Vec<u8>, DeclaredStats)> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(records.len() * 160));
    let mut stats = DeclaredStats::default();
    let mut id = String::new();
    let mut dup = String::new();
    for r in records {
        id.clear();
        let _ = write!(id, "{}", r.record_id);
        dup.clear();
        if let Some(d) = r.duplicate_of {
            let _ = write!(dup, "{d}");
            stats.duplicates += 1;
        }
        let truth = r.truth.map_or("", |h| table.code(h as usize));
        stats.records += 1;
        stats.absent += u64::from(r.truth.is_none());
        stats.clean += u64::from(r.noise.is_clean());
        w.write_record([
            id.as_str(),
            &r.name,
            &r.identity_number,
            &r.phone,
            &r.address,
            truth,
            &dup,
            &r.noise.label(),
        ])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    Ok((bytes, stats))
}

/// Writes `count` declared records made from `table`'s rooms to `out` (UTF-8 with a BOM), on
/// all cores, in record order.
pub fn write_declared(
    table: &HouseTable,
    seed: u64,
    count: u64,
    out: &Path,
    progress: bool,
) -> Result<DeclaredStats> {
    let generator = Generator::new(table, seed, count)?;
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    w.write_all(b"\xEF\xBB\xBF")?;
    w.write_all(DECLARED_COLUMNS.join(",").as_bytes())?;
    w.write_all(b"\n")?;
    let bar = if progress {
        indicatif::ProgressBar::new(count)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "generating [{bar:40}] {pos}/{len} records ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut total = DeclaredStats::default();
    let batch = (rayon::current_num_threads() * 4) as u64;
    let chunks = generator.chunks();
    let mut k = 0;
    while k < chunks {
        let end = (k + batch).min(chunks);
        let pieces: Vec<Result<(Vec<u8>, DeclaredStats)>> = (k..end)
            .into_par_iter()
            .map(|c| write_chunk(table, &generator.chunk(c)))
            .collect();
        for piece in pieces {
            let (bytes, s) = piece?;
            w.write_all(&bytes)?;
            total.records += s.records;
            total.absent += s.absent;
            total.duplicates += s.duplicates;
            total.clean += s.clean;
            bar.set_position(total.records);
        }
        k = end;
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    bar.finish_and_clear();
    Ok(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn chinese_numbers() {
        for (n, zh) in [
            (1, "一"),
            (10, "十"),
            (12, "十二"),
            (20, "二十"),
            (101, "一百零一"),
            (110, "一百一十"),
            (501, "五百零一"),
            (1001, "一千零一"),
            (1010, "一千零一十"),
            (2300, "二千三百"),
        ] {
            assert_eq!(chinese_count(n), zh, "{n}");
        }
        assert_eq!(chinese_digits("201", '〇'), "二〇一");
        assert_eq!(full_width("3-501"), "３-５０１");
    }

    #[test]
    fn identity_numbers_are_valid_and_distinct() {
        let ids = Identities::new();
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let mut seen = HashSet::new();
        let mut s = String::new();
        for i in 0..20_000 {
            let male = ids.make(i, &mut s);
            let parsed = IdentityNumber::parse(&s, today).unwrap();
            assert_eq!(
                parsed.gender() == wangge_domain::identity::Gender::Male,
                male,
                "{s}"
            );
            assert!(seen.insert(s.clone()));
        }
    }

    #[test]
    fn noise_labels_round_trip() {
        let mut n = NoiseSet::default();
        assert_eq!(n.label(), "clean");
        n.insert(Noise::Typo);
        n.insert(Noise::Extra);
        assert_eq!(n.label(), "typo+extra");
        assert_eq!(NoiseSet::parse(&n.label()), n);
    }
}
