//! The base data (基础数据, DESIGN.md §3) of a generated city: houses (实有房屋), people (实有人口)
//! with their residences, organisations (实有法人) and city components (城市部件), as four CSV
//! files in the import layout ("人进户，户进房，房进网格，网格进图").
//!
//! - Buildings stand inside unit grids (more of them in key grids), in compounds that share a
//!   door number on one of the community's roads; every room of a building is a house with its
//!   own house code: grid code (15) + building (3) + unit (2) + floor (2) + room (2) digits.
//! - People live in households of 1–5 in the residential and rental rooms, with valid identity
//!   numbers (real county codes: the generated city's 990100 is not a province), names, phones,
//!   tags and dates consistent with their age; about a fifth are floating population.
//! - Organisations sit in shop and office rooms, with valid unified social credit codes.
//! - Components carry GB/T 47678.5 identifiers (district + subcategory + sequence) and the
//!   handling units the demo creates (`{district_code}-{kind}`) as their units.
//!
//! Every file is UTF-8 with a BOM (so Excel reads it), written as it is generated, and the same
//! city, seed and counts give byte-identical files. Ages, tags and residence dates are as of
//! [`REFERENCE_DAY`].

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate};
use geo::{BoundingRect, Centroid, Contains, InteriorPoint, Point, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wangge_domain::category::{CategoryKind, national_catalogue};
use wangge_domain::identity::{CreditCode, IdentityNumber};
use wangge_domain::region::Level;
use wangge_domain::unit::DEFAULT_UNIT_KINDS;

use crate::generate::{CITY_NAME, GenRegion, GeneratedCity, PROVINCE_NAME};

/// The day the generated data describe: ages, tags and residence dates are as of this day, and
/// no date in the files is later.
pub const REFERENCE_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2026, 11, 24) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

pub const HOUSE_COLUMNS: [&str; 16] = [
    "house_code",
    "province",
    "city",
    "district",
    "street",
    "community",
    "road",
    "number",
    "building",
    "unit",
    "floor",
    "room",
    "use",
    "grid_code",
    "lon",
    "lat",
];

pub const PEOPLE_COLUMNS: [&str; 11] = [
    "identity_number",
    "name",
    "phone",
    "tags",
    "household",
    "registered_address",
    "house_code",
    "residence_kind",
    "moved_in",
    "moved_out",
    "relation",
];

pub const ORGANISATION_COLUMNS: [&str; 7] = [
    "credit_code",
    "name",
    "org_kind",
    "house_code",
    "grid_code",
    "responsible_person",
    "contact_phone",
];

pub const COMPONENT_COLUMNS: [&str; 10] = [
    "component_code",
    "name",
    "lon",
    "lat",
    "grid_code",
    "owner_unit",
    "maintenance_unit",
    "responsible_unit",
    "status",
    "attributes",
];

/// Rooms per unit grid that `wangge demo` registers (`base_data::demo_counts`) and that
/// `wangge generate city` writes to `houses.csv` unless told otherwise: the same seed and grid
/// count give the same rooms in both.
pub const DEMO_HOUSES_PER_GRID: usize = 4;

/// How many records of each kind to generate (targets) or were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegistryCounts {
    pub houses: usize,
    pub people: usize,
    pub organisations: usize,
    pub components: usize,
}

/// The files written, and how many records each holds.
#[derive(Debug, Clone)]
pub struct RegistryFiles {
    pub houses: PathBuf,
    pub people: PathBuf,
    pub organisations: PathBuf,
    pub components: PathBuf,
    pub written: RegistryCounts,
}

/// Writes `houses.csv`, `people.csv`, `organisations.csv` and `components.csv` into `dir`
/// (created if missing) for `city`.
///
/// The counts are targets:
/// - houses: buildings come whole, so the last building is cut to the smallest shape (at least
///   one unit, three floors, two rooms a floor) that holds the rooms still wanted: the file has
///   the target or at most 15 rooms more. Only when every grid already holds 999 buildings
///   does it stop short.
/// - people: exactly the target, as long as it is at most five per residential or rental room;
///   beyond that every such room gets five and the rest are not written. With fewer people than
///   rooms, some rooms stay empty.
/// - organisations and components: exactly the target.
///
/// Each file draws from its own random stream of `seed`, so changing one count changes only the
/// files that depend on it (people and organisations depend on the houses).
pub fn write_registry(
    city: &GeneratedCity,
    counts: &RegistryCounts,
    seed: u64,
    dir: &Path,
) -> Result<RegistryFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let atlas = Atlas::new(city, &mut stream(seed, 1))?;
    let files = RegistryFiles {
        houses: dir.join("houses.csv"),
        people: dir.join("people.csv"),
        organisations: dir.join("organisations.csv"),
        components: dir.join("components.csv"),
        written: RegistryCounts::default(),
    };
    let (houses, pools) = write_houses(&atlas, counts.houses, &mut stream(seed, 2), &files.houses)
        .with_context(|| format!("writing {}", files.houses.display()))?;
    let people = write_people(
        &atlas,
        &pools,
        counts.people,
        &mut stream(seed, 3),
        &files.people,
    )
    .with_context(|| format!("writing {}", files.people.display()))?;
    let organisations = write_organisations(
        &atlas,
        &pools,
        counts.organisations,
        &mut stream(seed, 4),
        &files.organisations,
    )
    .with_context(|| format!("writing {}", files.organisations.display()))?;
    let components = write_components(
        &atlas,
        counts.components,
        &mut stream(seed, 5),
        &files.components,
    )
    .with_context(|| format!("writing {}", files.components.display()))?;
    Ok(RegistryFiles {
        written: RegistryCounts {
            houses,
            people,
            organisations,
            components,
        },
        ..files
    })
}

/// Writes only `houses.csv`'s rows for `city` to `path`: byte for byte the file
/// [`write_registry`] writes with the same city, seed and house count (so `wangge generate
/// city` and the registry of the same seed describe the same rooms). Answers the rooms written.
pub fn write_houses_file(
    city: &GeneratedCity,
    houses: usize,
    seed: u64,
    path: &Path,
) -> Result<usize> {
    let atlas = Atlas::new(city, &mut stream(seed, 1))?;
    let (written, _) = write_houses(&atlas, houses, &mut stream(seed, 2), path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(written)
}

fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(n);
    rng
}

// ---------------------------------------------------------------------------------------------
// The city as the generator needs it: grids with their community, roads per community.

struct Grid<'a> {
    code: &'a str,
    polygon: &'a Polygon<f64>,
    min: (f64, f64),
    size: (f64, f64),
    /// A point inside, on the 6-decimal grid the files use.
    inner: (f64, f64),
    community: usize,
    key: bool,
}

struct Community<'a> {
    name: &'a str,
    street: &'a str,
    district: usize,
    /// Indexes into `Atlas::roads`.
    roads: Vec<usize>,
}

struct Atlas<'a> {
    districts: Vec<&'a GenRegion>,
    communities: Vec<Community<'a>>,
    grids: Vec<Grid<'a>>,
    /// Road names, unique within their district.
    roads: Vec<String>,
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl<'a> Atlas<'a> {
    fn new(city: &'a GeneratedCity, rng: &mut ChaCha8Rng) -> Result<Atlas<'a>> {
        let by_code: HashMap<&str, &GenRegion> =
            city.regions.iter().map(|r| (r.code.as_str(), r)).collect();
        let districts: Vec<&GenRegion> = city.of_level(Level::District).collect();
        let district_index: HashMap<&str, usize> = districts
            .iter()
            .enumerate()
            .map(|(i, d)| (d.code.as_str(), i))
            .collect();
        let mut used: Vec<HashSet<String>> = vec![HashSet::new(); districts.len()];
        let mut roads = Vec::new();
        let mut street_roads: HashMap<&str, (usize, Vec<usize>)> = HashMap::new();
        for s in city.of_level(Level::Street) {
            let d = s
                .parent_code
                .as_deref()
                .and_then(|p| district_index.get(p).copied())
                .with_context(|| format!("street {} has no district in the city", s.code))?;
            let n = rng.random_range(4..=8);
            let mut mine = Vec::with_capacity(n);
            for _ in 0..n {
                mine.push(roads.len());
                roads.push(road_name(rng, &mut used[d]));
            }
            street_roads.insert(s.code.as_str(), (d, mine));
        }
        let mut communities = Vec::new();
        let mut community_index: HashMap<&str, usize> = HashMap::new();
        for c in city.of_level(Level::Community) {
            let street = c
                .parent_code
                .as_deref()
                .and_then(|p| by_code.get(p).copied())
                .with_context(|| format!("community {} has no street in the city", c.code))?;
            let (district, street_list) = street_roads
                .get(street.code.as_str())
                .with_context(|| format!("community {} has no street in the city", c.code))?;
            // Two to four of the street's roads, so neighbouring communities share some.
            let mut pool = street_list.clone();
            let take = rng.random_range(2..=4).min(pool.len());
            for i in 0..take {
                let j = rng.random_range(i..pool.len());
                pool.swap(i, j);
            }
            pool.truncate(take);
            community_index.insert(c.code.as_str(), communities.len());
            communities.push(Community {
                name: &c.name,
                street: &street.name,
                district: *district,
                roads: pool,
            });
        }
        let mut grids = Vec::new();
        for g in city.of_level(Level::Grid) {
            let community = g
                .parent_code
                .as_deref()
                .and_then(|p| community_index.get(p).copied())
                .with_context(|| format!("grid {} has no community in the city", g.code))?;
            let rect = g
                .polygon
                .bounding_rect()
                .with_context(|| format!("grid {} has an empty polygon", g.code))?;
            let inside = |p: Point<f64>| {
                let p = Point::new(round6(p.x()), round6(p.y()));
                g.polygon.contains(&p).then_some((p.x(), p.y()))
            };
            let inner = g
                .polygon
                .interior_point()
                .and_then(inside)
                .or_else(|| g.polygon.centroid().and_then(inside))
                .with_context(|| format!("grid {} has no interior point", g.code))?;
            grids.push(Grid {
                code: &g.code,
                polygon: &g.polygon,
                min: (rect.min().x, rect.min().y),
                size: (rect.width(), rect.height()),
                inner,
                community,
                key: g.area_class == wangge_domain::region::AreaClass::Key,
            });
        }
        if grids.is_empty() {
            bail!("the city has no unit grids");
        }
        Ok(Atlas {
            districts,
            communities,
            grids,
            roads,
        })
    }

    /// A random point inside the grid, on the 6-decimal grid of the files.
    fn point_in(&self, grid: usize, rng: &mut ChaCha8Rng) -> (f64, f64) {
        let g = &self.grids[grid];
        for _ in 0..64 {
            let x = round6(g.min.0 + g.size.0 * rng.random::<f64>());
            let y = round6(g.min.1 + g.size.1 * rng.random::<f64>());
            if g.polygon.contains(&Point::new(x, y)) {
                return (x, y);
            }
        }
        g.inner
    }

    /// `at` moved by up to `metres` in each direction, if that stays inside the grid.
    fn near(&self, grid: usize, at: (f64, f64), metres: f64, rng: &mut ChaCha8Rng) -> (f64, f64) {
        let d = metres / 111_320.0;
        let x = round6(at.0 + rng.random_range(-d..=d));
        let y = round6(at.1 + rng.random_range(-d..=d));
        if self.grids[grid].polygon.contains(&Point::new(x, y)) {
            (x, y)
        } else {
            at
        }
    }
}

const ROAD_FIRST: &[&str] = &[
    "和平", "解放", "建设", "人民", "中山", "新华", "胜利", "友谊", "光明", "幸福", "文化", "体育",
    "青年", "工农", "民主", "团结", "东风", "长江", "黄河", "珠江", "汉阳", "武昌", "江汉", "紫阳",
    "首义", "晴川", "沿江", "滨湖", "复兴", "振兴", "长征", "延安", "南京", "北京", "上海", "湖滨",
    "江滨", "花园", "公园", "学府", "育才", "科技", "创业", "园林", "桂花", "樱花", "梧桐", "银杏",
    "丹桂", "翠柳", "金桥", "玉带", "彩虹", "前进", "红旗", "朝阳", "兴业", "万松", "紫荆", "积玉",
];
const ROAD_DIRECTION: &[&str] = &["东", "西", "南", "北", "中"];
const ROAD_SUFFIX: &[(&str, u32)] = &[
    ("路", 50),
    ("街", 25),
    ("大道", 10),
    ("巷", 10),
    ("大街", 5),
];

fn chinese_number(n: usize) -> String {
    const D: [&str; 10] = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => D[n].to_owned(),
        10..=19 => format!("十{}", D[n % 10]),
        20..=99 => format!("{}十{}", D[n / 10], D[n % 10]),
        _ => n.to_string(),
    }
}

/// A road name not yet used in its district: 和平路, 解放东路, 建设大道 …, then 和平二路 ….
fn road_name(rng: &mut ChaCha8Rng, used: &mut HashSet<String>) -> String {
    for _ in 0..30 {
        let first = ROAD_FIRST[rng.random_range(0..ROAD_FIRST.len())];
        let direction = if rng.random_bool(0.25) {
            ROAD_DIRECTION[rng.random_range(0..ROAD_DIRECTION.len())]
        } else {
            ""
        };
        let suffix = ROAD_SUFFIX[pick_weighted(rng, ROAD_SUFFIX, |s| s.1)].0;
        let name = format!("{first}{direction}{suffix}");
        if used.insert(name.clone()) {
            return name;
        }
    }
    let first = ROAD_FIRST[rng.random_range(0..ROAD_FIRST.len())];
    let mut n = 2;
    loop {
        let name = format!("{first}{}路", chinese_number(n));
        if used.insert(name.clone()) {
            return name;
        }
        n += 1;
    }
}

/// An index into `items` drawn by weight (linear; for short tables).
fn pick_weighted<T>(rng: &mut ChaCha8Rng, items: &[T], weight: impl Fn(&T) -> u32) -> usize {
    let total: u32 = items.iter().map(&weight).sum();
    let mut r = rng.random_range(0..total.max(1));
    for (i, item) in items.iter().enumerate() {
        let w = weight(item);
        if r < w {
            return i;
        }
        r -= w;
    }
    items.len().saturating_sub(1)
}

/// Cumulative weights, for drawing from long tables often.
struct Weighted(Vec<u64>);

impl Weighted {
    fn new(weights: impl IntoIterator<Item = u64>) -> Weighted {
        let mut sum = 0;
        Weighted(
            weights
                .into_iter()
                .map(|w| {
                    sum += w;
                    sum
                })
                .collect(),
        )
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.0.last().copied().unwrap_or(0);
        if total == 0 {
            return 0;
        }
        let r = rng.random_range(0..total);
        self.0.partition_point(|&c| c <= r)
    }
}

// ---------------------------------------------------------------------------------------------
// CSV output

/// A reusable record: fields are cleared and refilled, so writing a row allocates nothing.
struct Row(Vec<String>);

impl Row {
    fn new(n: usize) -> Row {
        Row(vec![String::new(); n])
    }

    fn text(&mut self, i: usize, s: &str) {
        let f = &mut self.0[i];
        f.clear();
        f.push_str(s);
    }

    fn fmt(&mut self, i: usize, args: std::fmt::Arguments<'_>) {
        let f = &mut self.0[i];
        f.clear();
        let _ = f.write_fmt(args);
    }
}

pub(crate) type CsvOut = csv::Writer<BufWriter<File>>;

pub(crate) fn create_csv(path: &Path, header: &[&str]) -> Result<CsvOut> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(b"\xEF\xBB\xBF")?;
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(header)?;
    Ok(w)
}

pub(crate) fn finish_csv(w: CsvOut) -> Result<()> {
    let mut out = w.into_inner().map_err(|e| e.into_error())?;
    out.flush()?;
    Ok(())
}

fn write_date(s: &mut String, d: NaiveDate) {
    let _ = write!(s, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
}

fn date_from_days(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days).unwrap_or(REFERENCE_DAY)
}

// ---------------------------------------------------------------------------------------------
// Houses

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Residential,
    Rental,
    Shop,
    Office,
    Vacant,
}

impl Use {
    fn as_str(self) -> &'static str {
        match self {
            Use::Residential => "residential",
            Use::Rental => "rental",
            Use::Shop => "shop",
            Use::Office => "office",
            Use::Vacant => "vacant",
        }
    }
}

/// A room, small enough to keep 300,000 of them: its house code is made again when needed.
#[derive(Debug, Clone, Copy)]
struct Room {
    grid: u32,
    road: u32,
    building: u16,
    unit: u8,
    floor: u8,
    index: u8,
}

impl Room {
    fn code(&self, atlas: &Atlas<'_>, out: &mut String) {
        out.clear();
        out.push_str(atlas.grids[self.grid as usize].code);
        let _ = write!(
            out,
            "{:03}{:02}{:02}{:02}",
            self.building, self.unit, self.floor, self.index
        );
    }
}

/// The rooms people and organisations go into.
#[derive(Default)]
struct Pools {
    /// Residential and rental rooms (true: rental).
    dwellings: Vec<(Room, bool)>,
    shops: Vec<Room>,
    offices: Vec<Room>,
}

#[derive(Clone, Copy, Default)]
struct GridState {
    buildings: u16,
    compound_left: u8,
    road: u32,
    number: u32,
}

const MAX_BUILDINGS_PER_GRID: u16 = 999;

/// Units, floors and rooms a floor of a building, cut to fit when fewer rooms are wanted.
fn building_shape(rng: &mut ChaCha8Rng, wanted: usize) -> (usize, usize, usize) {
    let units = [1, 1, 1, 2, 2, 2, 2, 3, 3, 4][rng.random_range(0..10)];
    let floors = match rng.random_range(0..100) {
        0..40 => rng.random_range(3..=7),
        40..75 => rng.random_range(8..=18),
        _ => rng.random_range(19..=33),
    };
    let per_floor = rng.random_range(2..=4);
    if units * floors * per_floor <= wanted {
        return (units, floors, per_floor);
    }
    // The last building: the smallest shape holding what is still wanted.
    let mut best = (units, floors, per_floor);
    for u in 1..=4 {
        for p in 2..=4 {
            let f = wanted.div_ceil(u * p).clamp(3, 33);
            let size = u * p * f;
            if size >= wanted && size < best.0 * best.1 * best.2 {
                best = (u, f, p);
            }
        }
    }
    best
}

/// Grids of the centre's community that get a building before buildings are placed at random.
const HOME_GRIDS: usize = 10;

/// The grid at the city's centre, where the demo's staff work, then the other grids of its
/// community: they get the first buildings, so the demo's pages are never empty.
fn home_grids(atlas: &Atlas<'_>) -> Vec<usize> {
    let centre = Point::new(crate::generate::CENTER.0, crate::generate::CENTER.1);
    let Some(first) = atlas.grids.iter().position(|g| g.polygon.contains(&centre)) else {
        return Vec::new();
    };
    let community = atlas.grids[first].community;
    std::iter::once(first)
        .chain(
            (0..atlas.grids.len()).filter(|&i| i != first && atlas.grids[i].community == community),
        )
        .take(HOME_GRIDS)
        .collect()
}

fn write_houses(
    atlas: &Atlas<'_>,
    target: usize,
    rng: &mut ChaCha8Rng,
    path: &Path,
) -> Result<(usize, Pools)> {
    let mut w = create_csv(path, &HOUSE_COLUMNS)?;
    let mut pools = Pools::default();
    let mut states = vec![GridState::default(); atlas.grids.len()];
    let mut next_number: Vec<u32> = atlas
        .roads
        .iter()
        .map(|_| rng.random_range(1..=20))
        .collect();
    // Key grids (the dense core) get three times the buildings.
    let grid_weights = Weighted::new(atlas.grids.iter().map(|g| if g.key { 3 } else { 1 }));
    let mut row = Row::new(HOUSE_COLUMNS.len());
    let mut code = String::new();
    let mut made = 0;
    let mut full = 0;
    let home = home_grids(atlas);
    let mut placed_home = 0;
    while made < target && full < atlas.grids.len() {
        // The first grids of the city get a building each before the rest is drawn: the demo's
        // staff work there, and their pages should not be empty.
        let mut g = match home.get(placed_home) {
            Some(&g) => {
                placed_home += 1;
                g
            }
            None => grid_weights.pick(rng),
        };
        while states[g].buildings >= MAX_BUILDINGS_PER_GRID {
            g = (g + 1) % atlas.grids.len();
        }
        let grid = &atlas.grids[g];
        let community = &atlas.communities[grid.community];
        let (units, floors, per_floor) = building_shape(rng, target - made);
        let st = &mut states[g];
        if st.compound_left == 0 {
            // A new compound (小区): a door number on one of the community's roads.
            let road = community.roads[rng.random_range(0..community.roads.len())];
            st.road = road as u32;
            st.number = next_number[road];
            next_number[road] += rng.random_range(1..=3) * 2;
            st.compound_left = rng.random_range(1..=6);
        }
        st.compound_left -= 1;
        st.buildings += 1;
        if st.buildings == MAX_BUILDINGS_PER_GRID {
            full += 1;
        }
        let (building, road, number) = (st.buildings, st.road, st.number);
        let office_building = rng.random_bool(0.025);
        let shopfront = rng.random_bool(if office_building { 0.5 } else { 0.3 });
        let at = atlas.point_in(g, rng);

        row.text(1, PROVINCE_NAME);
        row.text(2, CITY_NAME);
        row.text(3, &atlas.districts[community.district].name);
        row.text(4, community.street);
        row.text(5, community.name);
        row.text(6, &atlas.roads[road as usize]);
        row.fmt(7, format_args!("{number}"));
        row.fmt(8, format_args!("{building}"));
        row.text(13, grid.code);
        for unit in 1..=units {
            let (lon, lat) = atlas.near(g, at, 3.0, rng);
            row.fmt(9, format_args!("{unit}"));
            row.fmt(14, format_args!("{lon:.6}"));
            row.fmt(15, format_args!("{lat:.6}"));
            for floor in 1..=floors {
                row.fmt(10, format_args!("{floor}"));
                for index in 1..=per_floor {
                    let usage = if office_building {
                        if floor == 1 && shopfront {
                            Use::Shop
                        } else {
                            Use::Office
                        }
                    } else if floor == 1 && shopfront {
                        match rng.random_range(0..10) {
                            0..8 => Use::Shop,
                            8 => Use::Office,
                            _ => Use::Residential,
                        }
                    } else {
                        match rng.random_range(0..1000) {
                            0..160 => Use::Rental,
                            160..195 => Use::Vacant,
                            195..205 => Use::Office,
                            _ => Use::Residential,
                        }
                    };
                    let room = Room {
                        grid: g as u32,
                        road,
                        building,
                        unit: unit as u8,
                        floor: floor as u8,
                        index: index as u8,
                    };
                    room.code(atlas, &mut code);
                    row.text(0, &code);
                    row.fmt(11, format_args!("{}", floor * 100 + index));
                    row.text(12, usage.as_str());
                    w.write_record(&row.0)?;
                    match usage {
                        Use::Residential => pools.dwellings.push((room, false)),
                        Use::Rental => pools.dwellings.push((room, true)),
                        Use::Shop => pools.shops.push(room),
                        Use::Office => pools.offices.push(room),
                        Use::Vacant => {}
                    }
                }
            }
        }
        made += units * floors * per_floor;
    }
    finish_csv(w)?;
    Ok((made, pools))
}

// ---------------------------------------------------------------------------------------------
// People

/// Real county-level division codes (GB/T 2260) with their names and a weight. The generated
/// city lies where Wuhan does, so its own people carry Wuhan codes.
pub(crate) type County = (&'static str, &'static str, &'static str, &'static str, u32);

pub(crate) const LOCAL_COUNTIES: &[County] = &[
    ("420102", "湖北省", "武汉市", "江岸区", 3),
    ("420103", "湖北省", "武汉市", "江汉区", 3),
    ("420104", "湖北省", "武汉市", "硚口区", 3),
    ("420105", "湖北省", "武汉市", "汉阳区", 2),
    ("420106", "湖北省", "武汉市", "武昌区", 4),
    ("420107", "湖北省", "武汉市", "青山区", 2),
    ("420111", "湖北省", "武汉市", "洪山区", 4),
    ("420112", "湖北省", "武汉市", "东西湖区", 1),
    ("420113", "湖北省", "武汉市", "汉南区", 1),
    ("420114", "湖北省", "武汉市", "蔡甸区", 1),
    ("420115", "湖北省", "武汉市", "江夏区", 2),
    ("420116", "湖北省", "武汉市", "黄陂区", 2),
    ("420117", "湖北省", "武汉市", "新洲区", 2),
];

/// Where the floating population comes from: mostly the rest of the province and its
/// neighbours. Municipalities have no separate city name.
pub(crate) const OTHER_COUNTIES: &[County] = &[
    ("420202", "湖北省", "黄石市", "黄石港区", 4),
    ("420302", "湖北省", "十堰市", "茅箭区", 3),
    ("420502", "湖北省", "宜昌市", "西陵区", 4),
    ("420602", "湖北省", "襄阳市", "襄城区", 4),
    ("420702", "湖北省", "鄂州市", "梁子湖区", 2),
    ("420802", "湖北省", "荆门市", "东宝区", 3),
    ("420902", "湖北省", "孝感市", "孝南区", 5),
    ("421002", "湖北省", "荆州市", "沙市区", 4),
    ("421102", "湖北省", "黄冈市", "黄州区", 5),
    ("421202", "湖北省", "咸宁市", "咸安区", 3),
    ("410102", "河南省", "郑州市", "中原区", 2),
    ("410105", "河南省", "郑州市", "金水区", 2),
    ("411302", "河南省", "南阳市", "宛城区", 2),
    ("430102", "湖南省", "长沙市", "芙蓉区", 2),
    ("430602", "湖南省", "岳阳市", "岳阳楼区", 2),
    ("360102", "江西省", "南昌市", "东湖区", 2),
    ("360402", "江西省", "九江市", "濂溪区", 2),
    ("340104", "安徽省", "合肥市", "蜀山区", 2),
    ("500103", "重庆市", "", "渝中区", 2),
    ("510104", "四川省", "成都市", "锦江区", 2),
    ("110105", "北京市", "", "朝阳区", 1),
    ("110108", "北京市", "", "海淀区", 1),
    ("120104", "天津市", "", "南开区", 1),
    ("130102", "河北省", "石家庄市", "长安区", 1),
    ("140105", "山西省", "太原市", "小店区", 1),
    ("150102", "内蒙古自治区", "呼和浩特市", "新城区", 1),
    ("210102", "辽宁省", "沈阳市", "和平区", 1),
    ("220102", "吉林省", "长春市", "南关区", 1),
    ("230102", "黑龙江省", "哈尔滨市", "道里区", 1),
    ("310104", "上海市", "", "徐汇区", 1),
    ("310115", "上海市", "", "浦东新区", 1),
    ("320102", "江苏省", "南京市", "玄武区", 1),
    ("330106", "浙江省", "杭州市", "西湖区", 1),
    ("350203", "福建省", "厦门市", "思明区", 1),
    ("370102", "山东省", "济南市", "历下区", 1),
    ("440106", "广东省", "广州市", "天河区", 1),
    ("440303", "广东省", "深圳市", "罗湖区", 1),
    ("450102", "广西壮族自治区", "南宁市", "兴宁区", 1),
    ("460105", "海南省", "海口市", "秀英区", 1),
    ("520102", "贵州省", "贵阳市", "南明区", 1),
    ("530102", "云南省", "昆明市", "五华区", 1),
    ("610113", "陕西省", "西安市", "雁塔区", 1),
    ("620102", "甘肃省", "兰州市", "城关区", 1),
];

/// Common surnames by weight (roughly per 10,000 people), space-separated in each tier.
const SURNAMES: &[(u64, &str)] = &[
    (710, "王"),
    (700, "李"),
    (680, "张"),
    (540, "刘"),
    (450, "陈"),
    (310, "杨"),
    (230, "黄"),
    (220, "赵"),
    (210, "吴 周"),
    (170, "徐"),
    (150, "孙 马"),
    (140, "朱"),
    (130, "胡"),
    (120, "郭 何"),
    (110, "高 林 罗"),
    (100, "郑 梁"),
    (80, "谢 宋 唐"),
    (70, "许 韩 冯 邓"),
    (60, "曹 彭 曾 肖"),
    (50, "田 董 袁 潘 于 蒋 蔡 余 杜"),
    (40, "叶 程 苏 魏 吕 丁 任 沈 姚 卢 姜"),
    (
        30,
        "崔 钟 谭 陆 汪 范 金 石 廖 贾 夏 韦 付 方 白 邹 孟 熊 秦 邱 江 尹",
    ),
    (
        20,
        "薛 闫 段 雷 侯 龙 史 陶 黎 贺 顾 毛 郝 龚 邵 万 钱 严 武 戴 莫 孔 向 汤",
    ),
    (5, "欧阳"),
    (2, "司马 上官"),
    (1, "诸葛"),
];

const MALE_GIVEN: &str = "\
    伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳峰建国志\
    文博晨轩睿泽昊然宏海兵亮成东亚晖彬鸿";
const FEMALE_GIVEN: &str = "\
    芳娜敏静丽艳娟霞秀玲婷雪慧莹琳颖倩洁萍红梅兰燕琴云欣怡涵萱雨诗梦佳悦\
    彤晶瑶璐丹蕾薇";
const NEUTRAL_GIVEN: &str = "\
    思嘉一安晓春子家少新永雅心文天振德立紫若";

const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
];

const TAGS: [&str; 7] = [
    "elderly",
    "living_alone",
    "disabled",
    "low_income",
    "veteran",
    "minor",
    "special_care",
];

/// Names and phone numbers, shared by the people and organisation writers.
pub(crate) struct Namer {
    surname_list: Vec<&'static str>,
    surnames: Weighted,
    male: Vec<char>,
    female: Vec<char>,
    neutral: Vec<char>,
}

impl Namer {
    pub(crate) fn new() -> Namer {
        let tiers = || {
            SURNAMES
                .iter()
                .flat_map(|(w, names)| names.split(' ').map(move |n| (*w, n)))
        };
        Namer {
            surname_list: tiers().map(|(_, n)| n).collect(),
            surnames: Weighted::new(tiers().map(|(w, _)| w)),
            male: MALE_GIVEN.chars().collect(),
            female: FEMALE_GIVEN.chars().collect(),
            neutral: NEUTRAL_GIVEN.chars().collect(),
        }
    }

    pub(crate) fn surname(&self, rng: &mut ChaCha8Rng) -> &'static str {
        self.surname_list[self.surnames.pick(rng)]
    }

    /// Writes surname + one or two given-name characters.
    pub(crate) fn name(&self, rng: &mut ChaCha8Rng, surname: &str, male: bool, out: &mut String) {
        out.clear();
        out.push_str(surname);
        let own = if male { &self.male } else { &self.female };
        if rng.random_bool(0.7) {
            let first = if rng.random_bool(0.4) {
                &self.neutral
            } else {
                own
            };
            out.push(first[rng.random_range(0..first.len())]);
        }
        out.push(own[rng.random_range(0..own.len())]);
    }

    pub(crate) fn phone(&self, rng: &mut ChaCha8Rng, out: &mut String) {
        out.clear();
        out.push_str(MOBILE_PREFIXES[rng.random_range(0..MOBILE_PREFIXES.len())]);
        let _ = write!(out, "{:08}", rng.random_range(0..100_000_000u32));
    }
}

fn registered_address(c: &County) -> String {
    format!("{}{}{}", c.1, c.2, c.3)
}

/// One member of a household before the person is written.
struct Member {
    age: u32,
    male: bool,
    relation: &'static str,
    surname: &'static str,
    /// Where the identity number was issued.
    county: &'static County,
    /// Registered elsewhere (流动人口): the county is their registered address.
    floating: bool,
}

/// Age (whole years on the reference day) of someone born on `birth`.
fn age_on_reference_day(birth: NaiveDate) -> u32 {
    let mut age = REFERENCE_DAY.year() - birth.year();
    if (REFERENCE_DAY.month(), REFERENCE_DAY.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age.max(0) as u32
}

fn age_from(rng: &mut ChaCha8Rng, buckets: &[(u32, u32, u32)]) -> u32 {
    let b = buckets[pick_weighted(rng, buckets, |b| b.2)];
    rng.random_range(b.0..=b.1)
}

const HEAD_AGES: &[(u32, u32, u32)] = &[
    (22, 29, 14),
    (30, 39, 24),
    (40, 49, 20),
    (50, 59, 18),
    (60, 69, 13),
    (70, 79, 8),
    (80, 92, 3),
];
const TENANT_AGES: &[(u32, u32, u32)] = &[(18, 24, 25), (25, 34, 45), (35, 44, 20), (45, 60, 10)];

struct PeopleWriter<'a> {
    atlas: &'a Atlas<'a>,
    namer: Namer,
    local: Weighted,
    other: Weighted,
    ids: HashSet<u64>,
    row: Row,
    code: String,
    scratch: String,
    birth_min: i32,
    birth_max: i32,
    settled_from: i32,
    today: i32,
}

impl<'a> PeopleWriter<'a> {
    fn origin(&self, rng: &mut ChaCha8Rng, floating: bool) -> (&'static County, bool) {
        if floating {
            (&OTHER_COUNTIES[self.other.pick(rng)], true)
        } else if rng.random_bool(0.85) {
            (&LOCAL_COUNTIES[self.local.pick(rng)], false)
        } else {
            // Born elsewhere, registered here now: an identity number from elsewhere, no
            // registered address of their own.
            (&OTHER_COUNTIES[self.other.pick(rng)], false)
        }
    }

    fn household(&self, rng: &mut ChaCha8Rng, k: usize, rental: bool) -> Vec<Member> {
        let mut members = Vec::with_capacity(k);
        if rental && k >= 2 && rng.random_bool(0.45) {
            // Sharing tenants (合租): unrelated adults, each from their own place.
            for i in 0..k {
                let floating = rng.random_bool(0.6);
                let (county, floating) = self.origin(rng, floating);
                members.push(Member {
                    age: age_from(rng, TENANT_AGES),
                    male: rng.random_bool(0.55),
                    relation: if i == 0 { "户主" } else { "租户" },
                    surname: self.namer.surname(rng),
                    county,
                    floating,
                });
            }
            return members;
        }
        let floating = rng.random_bool(if rental { 0.6 } else { 0.14 });
        let (county, floating) = self.origin(rng, floating);
        let head_age = age_from(rng, HEAD_AGES);
        let head_male = rng.random_bool(0.6);
        let head_surname = self.namer.surname(rng);
        let member = |age: u32, male: bool, relation: &'static str, surname: &'static str| Member {
            age: age.clamp(2, 96),
            male,
            relation,
            surname,
            county,
            floating,
        };
        members.push(member(head_age, head_male, "户主", head_surname));
        let mut family_surname = head_surname;
        if k >= 2 && rng.random_bool(0.85) {
            let spouse_surname = self.namer.surname(rng);
            let offset = rng.random_range(-4i32..=4) + if head_male { -2 } else { 2 };
            let age = (head_age as i32 + offset).max(20) as u32;
            members.push(member(age, !head_male, "配偶", spouse_surname));
            if !head_male {
                family_surname = spouse_surname;
            }
        }
        let mut parents = 0;
        let mut children = 0;
        while members.len() < k {
            let child_age = head_age as i32 - rng.random_range(22..=36);
            if parents < 2 && head_age <= 62 && rng.random_bool(0.2) {
                let male = if parents == 0 {
                    rng.random_bool(0.5)
                } else {
                    !members[members.len() - 1].male
                };
                let surname = if male {
                    head_surname
                } else {
                    self.namer.surname(rng)
                };
                let age = head_age + rng.random_range(22..=32);
                members.push(member(age, male, "父母", surname));
                parents += 1;
            } else if child_age >= 2 {
                let grandchild_age = child_age - rng.random_range(22..=32);
                if children >= 1 && grandchild_age >= 2 && rng.random_bool(0.5) {
                    let male = rng.random_bool(0.52);
                    members.push(member(
                        grandchild_age as u32,
                        male,
                        "孙子女",
                        family_surname,
                    ));
                } else {
                    let male = rng.random_bool(0.52);
                    members.push(member(child_age as u32, male, "子女", family_surname));
                    children += 1;
                }
            } else {
                let age = (head_age as i32 + rng.random_range(-6..=6)).max(16) as u32;
                let male = rng.random_bool(0.5);
                members.push(member(age, male, "兄弟姐妹", head_surname));
            }
        }
        members
    }

    /// A birth date giving `age` on the reference day, within 1930-01-01 ..= 2024-12-31.
    fn birth(&self, rng: &mut ChaCha8Rng, age: u32) -> i32 {
        let age = age as i32;
        let y = REFERENCE_DAY.year();
        let latest = NaiveDate::from_ymd_opt(y - age, REFERENCE_DAY.month(), REFERENCE_DAY.day())
            .map(|d| d.num_days_from_ce())
            .unwrap_or(self.birth_max);
        let earliest = latest - 364;
        rng.random_range(earliest..=latest)
            .clamp(self.birth_min, self.birth_max)
    }

    /// A valid identity number not used before, into `out`.
    fn identity(
        &mut self,
        rng: &mut ChaCha8Rng,
        division: &str,
        birth: NaiveDate,
        male: bool,
        out: &mut String,
    ) -> Result<()> {
        let ymd = birth.year() as u64 * 10_000 + u64::from(birth.month() * 100 + birth.day());
        let div: u64 = division.parse().context("a division code")?;
        let mut seq = rng.random_range(0..500u64) * 2 + u64::from(male);
        for _ in 0..500 {
            let key = (div * 100_000_000 + ymd) * 1000 + seq;
            if self.ids.insert(key) {
                out.clear();
                let _ = write!(out, "{division}{ymd:08}{seq:03}");
                let check = IdentityNumber::check_char(out);
                out.push(check);
                return Ok(());
            }
            seq = (seq + 2) % 1000;
        }
        bail!("every identity number of {division} born {birth} is used")
    }

    fn write(
        &mut self,
        w: &mut CsvOut,
        rng: &mut ChaCha8Rng,
        room: &Room,
        rental: bool,
        k: usize,
    ) -> Result<()> {
        room.code(self.atlas, &mut self.code);
        let members = self.household(rng, k, rental);
        let cotenants = members.iter().any(|m| m.relation == "租户");
        let mut head_in = self.today;
        let mut id = String::new();
        for (i, m) in members.iter().enumerate() {
            let birth_days = self.birth(rng, m.age);
            let birth = date_from_days(birth_days);
            let age = age_on_reference_day(birth);
            let county = m.county;
            self.identity(rng, county.0, birth, m.male, &mut id)?;
            self.row.text(0, &id);
            self.namer.name(rng, m.surname, m.male, &mut self.scratch);
            self.row.text(1, &self.scratch);
            let phone_share = match age {
                0..12 => 0.05,
                12..18 => 0.6,
                18..76 => 0.96,
                _ => 0.7,
            };
            if rng.random_bool(phone_share) {
                self.namer.phone(rng, &mut self.scratch);
                self.row.text(2, &self.scratch);
            } else {
                self.row.text(2, "");
            }
            let tags = &mut self.row.0[3];
            tags.clear();
            let has = [
                age >= 60,
                age >= 60 && k == 1,
                rng.random_bool(0.015),
                rng.random_bool(if rental { 0.03 } else { 0.015 }),
                m.male && age >= 38 && rng.random_bool(0.02),
                age < 18,
                rng.random_bool(0.005),
            ];
            for (tag, on) in TAGS.iter().zip(has) {
                if on {
                    if !tags.is_empty() {
                        tags.push(',');
                    }
                    tags.push_str(tag);
                }
            }
            self.row.fmt(4, format_args!("HH{}", self.code));
            if m.floating {
                self.row.text(5, &registered_address(county));
            } else {
                self.row.text(5, "");
            }
            self.row.text(6, &self.code);
            self.row.text(7, "actual");
            let adult = birth_days + 18 * 365 + 5;
            let moved_in = if i == 0 || cotenants {
                // Newcomers and tenants came in the last years; owners any time since 1985.
                let from = if m.floating || cotenants || rental {
                    self.today - 8 * 365
                } else {
                    self.settled_from
                };
                let lo = adult.max(from).min(self.today);
                let d = rng.random_range(lo..=self.today);
                if i == 0 {
                    head_in = d;
                }
                d
            } else if birth_days >= head_in {
                // Born after the household moved in.
                (birth_days + rng.random_range(1..=60)).min(self.today)
            } else if rng.random_bool(0.7) {
                head_in
            } else {
                rng.random_range(head_in..=self.today)
            };
            let moved_in = moved_in.max(birth_days + 1).min(self.today);
            let scratch = &mut self.row.0[8];
            scratch.clear();
            write_date(scratch, date_from_days(moved_in));
            let out = &mut self.row.0[9];
            out.clear();
            if moved_in < self.today && rng.random_bool(0.05) {
                write_date(
                    out,
                    date_from_days(rng.random_range(moved_in + 1..=self.today)),
                );
            }
            self.row.text(10, m.relation);
            w.write_record(&self.row.0)?;
        }
        Ok(())
    }
}

/// Household sizes 1–5 as the 2020 census found them (mean about 2.6), tilted towards larger or
/// smaller households until their mean is `mean`: p(k) ∝ base(k)·tᵏ. Plain multiplications
/// only, so every build draws the same sizes.
fn household_sizes(mean: f64) -> Weighted {
    const BASE: [f64; 5] = [25.0, 30.0, 21.0, 13.0, 11.0];
    let weights = |t: f64| {
        let mut power = 1.0;
        BASE.map(|b| {
            power *= t;
            b * power
        })
    };
    let mean_of = |t: f64| {
        let w = weights(t);
        let sum: f64 = w.iter().sum();
        w.iter()
            .enumerate()
            .map(|(i, p)| p * (i + 1) as f64)
            .sum::<f64>()
            / sum
    };
    let want = mean.clamp(1.0, 5.0);
    let (mut lo, mut hi) = (1e-3_f64, 1e3_f64);
    for _ in 0..60 {
        let mid = (lo * hi).sqrt();
        if mean_of(mid) < want {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let w = weights((lo * hi).sqrt());
    let sum: f64 = w.iter().sum();
    Weighted::new(w.map(|p| (p / sum * 1e9) as u64))
}

fn write_people(
    atlas: &Atlas<'_>,
    pools: &Pools,
    target: usize,
    rng: &mut ChaCha8Rng,
    path: &Path,
) -> Result<usize> {
    let mut w = create_csv(path, &PEOPLE_COLUMNS)?;
    let day = |y, m, d| {
        NaiveDate::from_ymd_opt(y, m, d)
            .map(|d| d.num_days_from_ce())
            .context("a fixed date")
    };
    let mut people = PeopleWriter {
        atlas,
        namer: Namer::new(),
        local: Weighted::new(LOCAL_COUNTIES.iter().map(|c| u64::from(c.4))),
        other: Weighted::new(OTHER_COUNTIES.iter().map(|c| u64::from(c.4))),
        ids: HashSet::with_capacity(target.min(50_000_000)),
        row: Row::new(PEOPLE_COLUMNS.len()),
        code: String::new(),
        scratch: String::new(),
        birth_min: day(1930, 1, 1)?,
        birth_max: day(2024, 12, 31)?,
        settled_from: day(1985, 1, 1)?,
        today: REFERENCE_DAY.num_days_from_ce(),
    };
    let rooms = pools.dwellings.len();
    let least = usize::from(target >= rooms);
    let mut left_people = target.min(rooms * 5);
    let mut written = 0;
    let mut sizes = household_sizes(1.0);
    for (i, (room, rental)) in pools.dwellings.iter().enumerate() {
        let left_rooms = rooms - i;
        // Exactly the wanted total: never fewer than the later rooms can still take, never more
        // than leaves each of them its least.
        let lo = least.max(left_people.saturating_sub((left_rooms - 1) * 5));
        let hi = 5.min(left_people.saturating_sub((left_rooms - 1) * least));
        let mean = left_people as f64 / left_rooms as f64;
        if i % 64 == 0 {
            // Steered by what is left, so the total comes out without a run of odd rooms at
            // the end.
            sizes = household_sizes(mean);
        }
        let k = if mean < 1.0 {
            usize::from(rng.random_bool(mean))
        } else {
            sizes.pick(rng) + 1
        };
        let k = k.clamp(lo, hi.max(lo));
        if k > 0 {
            people.write(&mut w, rng, room, *rental, k)?;
        }
        left_people -= k.min(left_people);
        written += k;
    }
    finish_csv(w)?;
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// Organisations

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrgKind {
    Enterprise,
    IndividualBusiness,
    SocialOrganisation,
    PublicInstitution,
    Government,
}

impl OrgKind {
    fn as_str(self) -> &'static str {
        match self {
            OrgKind::Enterprise => "enterprise",
            OrgKind::IndividualBusiness => "individual_business",
            OrgKind::SocialOrganisation => "social_organisation",
            OrgKind::PublicInstitution => "public_institution",
            OrgKind::Government => "government",
        }
    }
}

const ORG_KINDS: &[(OrgKind, u32)] = &[
    (OrgKind::Enterprise, 50),
    (OrgKind::IndividualBusiness, 35),
    (OrgKind::SocialOrganisation, 6),
    (OrgKind::PublicInstitution, 5),
    (OrgKind::Government, 4),
];

const BRAND: &str = "\
    鑫源华美盛达兴隆福祥瑞丰康泰安顺佳和宏远金恒昌万嘉利诚信博新锦力汇聚\
    通优品创联荣";
const SHOP_KINDS: &str = "\
    便利店 水果店 餐馆 面馆 理发店 药店 五金店 早餐店 花店 \
    洗衣店 文具店 超市 烟酒店 手机维修店 奶茶店 烧烤店 母婴店 \
    宠物店 眼镜店 服装店";
const INDUSTRIES: &str = "\
    科技 商贸 餐饮管理 物业管理 建筑工程 信息技术 文化传媒 \
    教育咨询 物流 房地产经纪 医药 装饰工程 电子商务 网络科技 \
    环保科技 健康管理 人力资源 广告";
/// 社会团体 (registered as 51…) and 民办非企业单位 (52…).
const SOCIAL: &[(&str, char)] = &[
    ("志愿者协会", '1'),
    ("老年人协会", '1'),
    ("书画协会", '1'),
    ("青少年发展促进会", '1'),
    ("邻里互助会", '1'),
    ("社会工作服务中心", '2'),
    ("养老服务中心", '2'),
    ("托育服务中心", '2'),
    ("心理咨询服务中心", '2'),
];
const PUBLIC: &str = "\
    社区卫生服务中心 幼儿园 文化站 便民服务中心 小学 图书馆分馆 \
    退役军人服务站 党群服务中心";

/// The check character of a nine-character organisation code body (GB 11714): '0'–'9' or 'X'.
fn organisation_code_check(body: &[u8; 8]) -> char {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .iter()
        .zip(W)
        .map(|(&c, w)| {
            let v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                u32::from(c.to_ascii_uppercase().wrapping_sub(b'A')) + 10
            };
            v * w
        })
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from(b'0' + n as u8),
    }
}

/// The GB 32100 alphabet (no I, O, S, V, Z).
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn write_organisations(
    atlas: &Atlas<'_>,
    pools: &Pools,
    target: usize,
    rng: &mut ChaCha8Rng,
    path: &Path,
) -> Result<usize> {
    let mut w = create_csv(path, &ORGANISATION_COLUMNS)?;
    let namer = Namer::new();
    let local = Weighted::new(LOCAL_COUNTIES.iter().map(|c| u64::from(c.4)));
    let brand: Vec<char> = BRAND.chars().collect();
    let shop_kinds: Vec<&str> = SHOP_KINDS.split(' ').collect();
    let industries: Vec<&str> = INDUSTRIES.split(' ').collect();
    let public: Vec<&str> = PUBLIC.split(' ').collect();
    let dwellings: Vec<Room> = pools.dwellings.iter().map(|d| d.0).collect();
    let mut codes: HashSet<String> = HashSet::with_capacity(target);
    let mut names: HashSet<String> = HashSet::with_capacity(target);
    let mut row = Row::new(ORGANISATION_COLUMNS.len());
    let mut code = String::new();
    let mut scratch = String::new();
    for n in 0..target {
        let mut kind = ORG_KINDS[pick_weighted(rng, ORG_KINDS, |k| k.1)].0;
        // Shops hold individual businesses and some companies; offices the rest.
        let first: &[Room] = match kind {
            OrgKind::IndividualBusiness => &pools.shops,
            OrgKind::Enterprise if rng.random_bool(0.3) => &pools.shops,
            _ => &pools.offices,
        };
        let pool = [
            first,
            pools.offices.as_slice(),
            pools.shops.as_slice(),
            dwellings.as_slice(),
        ]
        .into_iter()
        .find(|p| !p.is_empty());
        let (grid, room) = match pool {
            Some(p) => {
                let r = p[rng.random_range(0..p.len())];
                (r.grid as usize, Some(r))
            }
            None => (rng.random_range(0..atlas.grids.len()), None),
        };
        let community = &atlas.communities[atlas.grids[grid].community];
        let district = &atlas.districts[community.district].name;
        let road = match room {
            Some(r) => atlas.roads[r.road as usize].as_str(),
            None => atlas
                .roads
                .get(community.roads.first().copied().unwrap_or(0))
                .map(String::as_str)
                .unwrap_or(""),
        };
        let brand_name = |rng: &mut ChaCha8Rng| {
            let a = brand[rng.random_range(0..brand.len())];
            let b = brand[rng.random_range(0..brand.len())];
            format!("{a}{b}")
        };
        let mut name = String::new();
        let mut social_type = '2';
        for attempt in 0..12 {
            if attempt == 8 {
                // The names of this kind are taken here: register a company instead.
                kind = OrgKind::Enterprise;
            }
            name = match kind {
                OrgKind::IndividualBusiness => format!(
                    "{CITY_NAME}{road}{}{}",
                    brand_name(rng),
                    shop_kinds[rng.random_range(0..shop_kinds.len())]
                ),
                OrgKind::Enterprise => format!(
                    "{CITY_NAME}{}{}有限公司",
                    brand_name(rng),
                    industries[rng.random_range(0..industries.len())]
                ),
                OrgKind::SocialOrganisation => {
                    let (word, t) = SOCIAL[rng.random_range(0..SOCIAL.len())];
                    social_type = t;
                    if rng.random_bool(0.5) {
                        format!("{CITY_NAME}{district}{word}")
                    } else {
                        format!("{district}{}{word}", community.street)
                    }
                }
                OrgKind::PublicInstitution => format!(
                    "{district}{}{}",
                    community.street,
                    public[rng.random_range(0..public.len())]
                ),
                OrgKind::Government => {
                    if rng.random_bool(0.5) {
                        let office = if community.street.ends_with('镇') {
                            "人民政府"
                        } else {
                            "办事处"
                        };
                        format!("{district}{}{office}", community.street)
                    } else {
                        let (_, unit) = DEFAULT_UNIT_KINDS
                            [rng.random_range(0..DEFAULT_UNIT_KINDS.len().max(2) - 1)];
                        format!("{CITY_NAME}{district}{unit}")
                    }
                }
            };
            if !names.contains(&name) {
                break;
            }
        }
        if names.contains(&name) {
            name = format!("{name}（{}）", n + 1);
        }
        names.insert(name.clone());
        let (authority, kind_char) = match kind {
            OrgKind::Enterprise => ('9', '1'),
            OrgKind::IndividualBusiness => ('9', '2'),
            OrgKind::SocialOrganisation => ('5', social_type),
            OrgKind::PublicInstitution => ('1', '2'),
            OrgKind::Government => ('1', '1'),
        };
        let division = LOCAL_COUNTIES[local.pick(rng)].0;
        loop {
            let mut body = [0u8; 8];
            for b in &mut body {
                *b = USCC_ALPHABET[rng.random_range(0..USCC_ALPHABET.len())];
            }
            code.clear();
            code.push(authority);
            code.push(kind_char);
            code.push_str(division);
            code.extend(body.iter().map(|&b| char::from(b)));
            code.push(organisation_code_check(&body));
            let check = CreditCode::check_char(&code);
            if check == '?' {
                bail!("credit code {code} has a character outside GB 32100's alphabet");
            }
            code.push(check);
            if codes.insert(code.clone()) {
                break;
            }
        }
        row.text(0, &code);
        row.text(1, &name);
        row.text(2, kind.as_str());
        match room {
            Some(r) => {
                r.code(atlas, &mut scratch);
                row.text(3, &scratch);
            }
            None => row.text(3, ""),
        }
        row.text(4, atlas.grids[grid].code);
        let surname = namer.surname(rng);
        let male = rng.random_bool(0.6);
        namer.name(rng, surname, male, &mut scratch);
        row.text(5, &scratch);
        if rng.random_bool(0.9) {
            namer.phone(rng, &mut scratch);
            row.text(6, &scratch);
        } else {
            row.text(6, "");
        }
        w.write_record(&row.0)?;
    }
    finish_csv(w)?;
    Ok(target)
}

// ---------------------------------------------------------------------------------------------
// Components

/// How common a component subcategory is in a street, relative to others (1–400).
fn component_weight(code: &str) -> u64 {
    match code {
        "04002" => 400,
        "01037" => 250,
        "03005" => 200,
        "01004" => 120,
        "01001" | "01002" | "01003" => 90,
        "02010" | "03007" => 80,
        "01005" | "01007" | "01050" | "02038" | "04011" => 60,
        "01013" | "01030" | "01031" | "02017" => 50,
        "01006" | "01011" | "02021" | "03006" => 40,
        "01028" | "02012" | "04007" => 30,
        "02014" => 25,
        "02004" | "02025" | "02027" | "04003" | "04013" => 20,
        "01008" | "01009" | "01010" | "01012" | "01014" | "01015" | "01017" | "01018" | "01019"
        | "01020" | "01054" | "03008" => 15,
        "01046" | "01075" => 10,
        "01059" | "03001" => 8,
        "04001" => 1,
        _ => 3,
    }
}

/// The kind of handling unit (see `DEFAULT_UNIT_KINDS`) that owns, maintains and answers for a
/// component subcategory.
fn component_unit_kind(code: &str) -> &'static str {
    match code {
        "01001" | "01002" | "01003" | "01004" | "01018" | "01019" | "01024" | "01025" | "01063"
        | "01067" | "01068" | "01069" | "01070" | "01071" | "01072" | "01073" => "shuiwu",
        "01005" | "01017" | "01028" | "01029" | "01030" | "01047" | "01048" | "01054" => "gongdian",
        "01006" | "01037" | "01038" | "01039" | "01060" => "shizheng",
        "01012" | "01013" | "01050" | "01051" | "01066" => "gongan",
        "01014" => "yuanlin",
        "01015" | "01020" | "01032" => "jiaotong",
        "01010" | "01011" | "01021" | "01036" | "01049" | "01057" | "01061" => "zhujian",
        "01040" | "01041" | "01043" | "01044" | "01045" | "01053" | "01075" => "chengguan",
        "01076" => "shichang",
        "02014" | "02015" | "02016" | "02039" => "gongan",
        "02012" | "02013" | "02038" => "shizheng",
        "03006" | "03007" | "03008" => "chengguan",
        _ => match code.get(..2) {
            Some("01") => "shizheng",
            Some("02") => "jiaotong",
            Some("03") => "huanwei",
            Some("04") => "yuanlin",
            _ => "zhujian",
        },
    }
}

fn component_attributes(rng: &mut ChaCha8Rng, code: &str, name: &str, out: &mut String) {
    out.clear();
    if name.ends_with("井盖") || name.ends_with("箅子") {
        let m = ["球墨铸铁", "复合材料", "铸铁", "钢纤维混凝土"][rng.random_range(0..4)];
        let s = ["圆形", "方形"][rng.random_range(0..2)];
        let _ = write!(out, r#"{{"material":"{m}","shape":"{s}"}}"#);
        return;
    }
    match code {
        "01037" | "01038" | "01039" => {
            let l = ["LED", "高压钠灯"][rng.random_range(0..2)];
            let h = rng.random_range(4..=12);
            let _ = write!(out, r#"{{"light_source":"{l}","height_m":{h}}}"#);
        }
        "04001" | "04002" | "04003" => {
            let s = ["香樟", "法国梧桐", "银杏", "栾树", "水杉", "国槐"][rng.random_range(0..6)];
            let d = if code == "04001" {
                rng.random_range(80..=200)
            } else {
                rng.random_range(10..=60)
            };
            let _ = write!(out, r#"{{"species":"{s}","dbh_cm":{d}}}"#);
        }
        "03005" => {
            let c = [120, 240, 660][rng.random_range(0..3)];
            let s = ["四分类", "两分类"][rng.random_range(0..2)];
            let _ = write!(out, r#"{{"capacity_l":{c},"sorting":"{s}"}}"#);
        }
        "01013" => {
            let t = ["地上式消火栓", "地下式消火栓", "消防水泵接合器"][rng.random_range(0..3)];
            let _ = write!(out, r#"{{"type":"{t}"}}"#);
        }
        _ => {
            if rng.random_bool(0.4) {
                let y = rng.random_range(2000..=2025);
                let _ = write!(out, r#"{{"installed":"{y}"}}"#);
            }
        }
    }
}

fn write_components(
    atlas: &Atlas<'_>,
    target: usize,
    rng: &mut ChaCha8Rng,
    path: &Path,
) -> Result<usize> {
    let mut w = create_csv(path, &COMPONENT_COLUMNS)?;
    let subcategories: Vec<_> = national_catalogue()
        .into_iter()
        .filter(|c| c.kind == CategoryKind::Component)
        .collect();
    if subcategories.is_empty() && target > 0 {
        bail!("the catalogue has no component subcategories");
    }
    let weights = Weighted::new(subcategories.iter().map(|c| component_weight(&c.code)));
    let mut sequence = vec![0u32; atlas.districts.len() * subcategories.len()];
    let mut row = Row::new(COMPONENT_COLUMNS.len());
    let mut unit = String::new();
    for _ in 0..target {
        let g = rng.random_range(0..atlas.grids.len());
        let s = weights.pick(rng);
        let sub = &subcategories[s];
        let d = atlas.communities[atlas.grids[g].community].district;
        let district = atlas.districts[d].code.as_str();
        let seq = &mut sequence[d * subcategories.len() + s];
        *seq += 1;
        if *seq > 999_999 {
            bail!(
                "more than 999,999 components of {} in district {district}",
                sub.code
            );
        }
        row.fmt(0, format_args!("{district}{}{:06}", sub.code, *seq));
        row.text(1, &sub.name);
        let (lon, lat) = atlas.point_in(g, rng);
        row.fmt(2, format_args!("{lon:.6}"));
        row.fmt(3, format_args!("{lat:.6}"));
        row.text(4, atlas.grids[g].code);
        unit.clear();
        let _ = write!(unit, "{district}-{}", component_unit_kind(&sub.code));
        // Outdoor advertising and shop signs belong to their businesses, not to a unit.
        if matches!(sub.code.as_str(), "03006" | "03007") {
            row.text(5, "");
        } else {
            row.text(5, &unit);
        }
        row.text(6, &unit);
        row.text(7, &unit);
        let status = match rng.random_range(0..1000) {
            0..920 => "in_use",
            920..970 => "damaged",
            970..985 => "missing",
            _ => "removed",
        };
        row.text(8, status);
        let attributes = &mut row.0[9];
        component_attributes(rng, &sub.code, &sub.name, attributes);
        w.write_record(&row.0)?;
    }
    finish_csv(w)?;
    Ok(target)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::generate::generate_city;
    use wangge_domain::registry::{
        Component, Fields, House, Organisation, Person, PersonSettings, Residence,
    };

    const COUNTS: RegistryCounts = RegistryCounts {
        houses: 2000,
        people: 5000,
        organisations: 200,
        components: 1000,
    };

    /// The rows of a file, as header → value maps, after checking the BOM and the header.
    fn read(path: &Path, header: &[&str]) -> Vec<Fields> {
        let bytes = std::fs::read(path).unwrap();
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM");
        let mut r = csv::Reader::from_reader(body);
        let names: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(names, header, "{}", path.display());
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                names
                    .iter()
                    .cloned()
                    .zip(rec.iter().map(String::from))
                    .collect()
            })
            .collect()
    }

    fn near(found: usize, wanted: usize) -> bool {
        found.abs_diff(wanted) * 20 <= wanted
    }

    #[test]
    fn the_files_are_valid_and_consistent() {
        let city = generate_city(200, 7);
        let dir = tempfile::tempdir().unwrap();
        let files = write_registry(&city, &COUNTS, 7, dir.path()).unwrap();
        let houses = read(&files.houses, &HOUSE_COLUMNS);
        let people = read(&files.people, &PEOPLE_COLUMNS);
        let orgs = read(&files.organisations, &ORGANISATION_COLUMNS);
        let components = read(&files.components, &COMPONENT_COLUMNS);
        assert_eq!(
            files.written,
            RegistryCounts {
                houses: houses.len(),
                people: people.len(),
                organisations: orgs.len(),
                components: components.len(),
            }
        );
        assert!(houses.len() >= COUNTS.houses && houses.len() <= COUNTS.houses + 15);
        assert!(near(people.len(), COUNTS.people), "{}", people.len());
        assert_eq!(orgs.len(), COUNTS.organisations);
        assert_eq!(components.len(), COUNTS.components);

        let grids: HashMap<&str, &GenRegion> = city
            .of_level(Level::Grid)
            .map(|g| (g.code.as_str(), g))
            .collect();
        let names: HashMap<&str, &str> = city
            .regions
            .iter()
            .map(|r| (r.code.as_str(), r.name.as_str()))
            .collect();
        let today = REFERENCE_DAY;

        // Houses: unique codes made of the grid code, inside their grid, named after it.
        let mut house_codes = HashSet::new();
        let mut uses: HashMap<String, usize> = HashMap::new();
        let mut house_grid = HashMap::new();
        for h in &houses {
            let code = h.get("house_code").unwrap();
            let grid = h.get("grid_code").unwrap();
            assert!(house_codes.insert(code.to_owned()), "{code} twice");
            assert_eq!(code.len(), 24);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
            assert!(code.starts_with(grid));
            let floor: u32 = h.get("floor").unwrap().parse().unwrap();
            assert!((1..=33).contains(&floor));
            assert_eq!(&code[20..22], format!("{floor:02}"));
            let room: u32 = h.get("room").unwrap().parse().unwrap();
            assert_eq!(room / 100, floor);
            let unit: u32 = h.get("unit").unwrap().parse().unwrap();
            assert!((1..=4).contains(&unit));
            h.get("number").unwrap().parse::<u32>().unwrap();
            let lon: f64 = h.get("lon").unwrap().parse().unwrap();
            let lat: f64 = h.get("lat").unwrap().parse().unwrap();
            assert!(
                grids[grid].polygon.contains(&Point::new(lon, lat)),
                "{code} outside its grid"
            );
            assert_eq!(h.get("province"), Some(PROVINCE_NAME));
            assert_eq!(h.get("city"), Some(CITY_NAME));
            assert_eq!(h.get("district"), Some(names[&grid[..6]]));
            assert_eq!(h.get("street"), Some(names[&grid[..9]]));
            assert_eq!(h.get("community"), Some(names[&grid[..12]]));
            *uses.entry(h.get("use").unwrap().to_owned()).or_default() += 1;
            house_grid.insert(code.to_owned(), grid.to_owned());
            House::from_fields(h).unwrap();
        }
        let share = |u: &str| uses.get(u).copied().unwrap_or(0) as f64 / houses.len() as f64;
        assert!((0.1..0.2).contains(&share("rental")), "{uses:?}");
        assert!(share("residential") > 0.6, "{uses:?}");
        assert!(share("shop") > 0.0 && share("office") > 0.0, "{uses:?}");

        // People: valid, unique identity numbers; households in residential or rental rooms.
        let settings = PersonSettings::default();
        let mut ids = HashSet::new();
        let mut household_heads: HashMap<String, usize> = HashMap::new();
        let (mut phones, mut floating) = (0, 0);
        for p in &people {
            let text = p.get("identity_number").unwrap();
            let id = IdentityNumber::parse(text, today).unwrap();
            assert!(ids.insert(text.to_owned()), "{text} twice");
            assert!(!id.division_code().starts_with("99"));
            let birth = id.birth_date();
            assert!(birth >= NaiveDate::from_ymd_opt(1930, 1, 1).unwrap());
            assert!(birth <= NaiveDate::from_ymd_opt(2024, 12, 31).unwrap());
            let age = id.age_on(today);
            let tags: Vec<&str> = p.get("tags").unwrap_or("").split(',').collect();
            assert_eq!(tags.contains(&"elderly"), age >= 60, "{tags:?} at {age}");
            assert_eq!(tags.contains(&"minor"), age < 18, "{tags:?} at {age}");
            let house = p.get("house_code").unwrap();
            assert!(house_codes.contains(house));
            assert_eq!(p.get("household").unwrap(), format!("HH{house}"));
            assert_eq!(p.get("residence_kind"), Some("actual"));
            let moved_in: NaiveDate = p.get("moved_in").unwrap().parse().unwrap();
            assert!(moved_in > birth && moved_in <= today);
            if let Some(out) = p.get("moved_out") {
                let out: NaiveDate = out.parse().unwrap();
                assert!(out > moved_in && out <= today);
            }
            if p.get("relation") == Some("户主") {
                *household_heads.entry(house.to_owned()).or_default() += 1;
            }
            phones += usize::from(p.get("phone").is_some());
            floating += usize::from(p.get("registered_address").is_some());
            Person::from_fields(p, &settings, today).unwrap();
            Residence::from_fields(p, today).unwrap();
        }
        assert!(household_heads.values().all(|&n| n == 1));
        let households: HashSet<&str> = people
            .iter()
            .map(|p| p.get("house_code").unwrap())
            .collect();
        assert_eq!(households.len(), household_heads.len());
        let phones = phones as f64 / people.len() as f64;
        assert!((0.78..0.92).contains(&phones), "{phones}");
        let floating = floating as f64 / people.len() as f64;
        assert!((0.14..0.28).contains(&floating), "{floating}");
        let first_in_room = people
            .iter()
            .zip(std::iter::once(None).chain(people.iter().map(Some)))
            .filter(|(p, prev)| prev.is_none_or(|q| q.get("household") != p.get("household")))
            .all(|(p, _)| p.get("relation") == Some("户主"));
        assert!(first_in_room);

        // Organisations: valid unique credit codes, in shops and offices of their grid.
        let mut credit = HashSet::new();
        for o in &orgs {
            let code = o.get("credit_code").unwrap();
            let c = CreditCode::parse(code).unwrap();
            assert!(credit.insert(code.to_owned()));
            assert!(c.division_code().starts_with("4201"));
            let body: [u8; 8] = code.as_bytes()[8..16].try_into().unwrap();
            assert_eq!(
                organisation_code_check(&body),
                char::from(code.as_bytes()[16])
            );
            let house = o.get("house_code").unwrap();
            assert_eq!(house_grid[house], o.get("grid_code").unwrap());
            Organisation::from_fields(o).unwrap();
        }

        // Components: 17-digit codes of their district and subcategory, the demo's units.
        let catalogue: HashMap<String, String> = national_catalogue()
            .into_iter()
            .filter(|c| c.kind == CategoryKind::Component)
            .map(|c| (c.code, c.name))
            .collect();
        let mut component_codes = HashSet::new();
        for c in &components {
            let code = c.get("component_code").unwrap();
            let grid = c.get("grid_code").unwrap();
            assert!(component_codes.insert(code.to_owned()));
            assert_eq!(code.len(), 17);
            assert!(code.starts_with(&grid[..6]));
            assert_eq!(c.get("name"), Some(catalogue[&code[6..11]].as_str()));
            let lon: f64 = c.get("lon").unwrap().parse().unwrap();
            let lat: f64 = c.get("lat").unwrap().parse().unwrap();
            assert!(grids[grid].polygon.contains(&Point::new(lon, lat)));
            let unit = c.get("responsible_unit").unwrap();
            let (district, kind) = unit.split_once('-').unwrap();
            assert_eq!(district, &grid[..6]);
            assert!(DEFAULT_UNIT_KINDS.iter().any(|(k, _)| *k == kind), "{unit}");
            Component::from_fields(c).unwrap();
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let city = generate_city(200, 3);
        let counts = RegistryCounts {
            houses: 600,
            people: 1500,
            organisations: 50,
            components: 300,
        };
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let fa = write_registry(&city, &counts, 11, a.path()).unwrap();
        let fb = write_registry(&city, &counts, 11, b.path()).unwrap();
        let fc = write_registry(&city, &counts, 12, c.path()).unwrap();
        for (x, y, z) in [
            (&fa.houses, &fb.houses, &fc.houses),
            (&fa.people, &fb.people, &fc.people),
            (&fa.organisations, &fb.organisations, &fc.organisations),
            (&fa.components, &fb.components, &fc.components),
        ] {
            let x = std::fs::read(x).unwrap();
            assert_eq!(x, std::fs::read(y).unwrap());
            assert_ne!(x, std::fs::read(z).unwrap());
        }
    }

    #[test]
    fn the_houses_alone_are_the_registry_houses() {
        let city = generate_city(120, 5);
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let counts = RegistryCounts {
            houses: 120 * DEMO_HOUSES_PER_GRID,
            people: 300,
            organisations: 10,
            components: 20,
        };
        let files = write_registry(&city, &counts, 5, a.path()).unwrap();
        let path = b.path().join("houses.csv");
        let n = write_houses_file(&city, counts.houses, 5, &path).unwrap();
        assert_eq!(n, files.written.houses);
        assert_eq!(
            std::fs::read(&files.houses).unwrap(),
            std::fs::read(&path).unwrap()
        );
    }

    #[test]
    fn counts_at_the_edges() {
        let city = generate_city(30, 1);
        let dir = tempfile::tempdir().unwrap();
        // Nothing at all: the files hold their headers.
        let none = write_registry(&city, &RegistryCounts::default(), 1, dir.path()).unwrap();
        assert_eq!(none.written, RegistryCounts::default());
        assert_eq!(read(&none.houses, &HOUSE_COLUMNS).len(), 0);
        // A few rooms and many people: five a dwelling, no more.
        let few = RegistryCounts {
            houses: 7,
            people: 1000,
            organisations: 5,
            components: 3,
        };
        let files = write_registry(&city, &few, 1, dir.path()).unwrap();
        let houses = read(&files.houses, &HOUSE_COLUMNS);
        assert!((7..=7 + 15).contains(&houses.len()), "{}", houses.len());
        let dwellings = houses
            .iter()
            .filter(|h| matches!(h.get("use"), Some("residential" | "rental")))
            .count();
        assert_eq!(files.written.people, dwellings * 5);
        assert_eq!(read(&files.organisations, &ORGANISATION_COLUMNS).len(), 5);
        // Fewer people than rooms: some rooms stay empty, the count is exact.
        let sparse = RegistryCounts {
            houses: 500,
            people: 100,
            ..few
        };
        let files = write_registry(&city, &sparse, 1, dir.path()).unwrap();
        assert_eq!(read(&files.people, &PEOPLE_COLUMNS).len(), 100);
    }

    #[test]
    fn the_last_building_is_cut_to_fit() {
        let mut rng = stream(1, 9);
        for wanted in 1..600 {
            let (u, f, p) = building_shape(&mut rng, wanted);
            let size = u * f * p;
            assert!((1..=4).contains(&u) && (3..=33).contains(&f) && (2..=4).contains(&p));
            assert!(size >= wanted.min(6), "{wanted}: {size}");
            assert!(size <= wanted.max(6) + 15, "{wanted}: {size}");
        }
    }

    #[test]
    fn organisation_code_check_characters() {
        // 91350100M000100Y43: the organisation code M000100Y4.
        assert_eq!(organisation_code_check(b"M000100Y"), '4');
        assert_eq!(CreditCode::check_char("91350100M000100Y4"), '3');
    }
}
