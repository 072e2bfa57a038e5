//! The generated city: irregular unit grids on a jittered lattice (about 100 m × 100 m in the
//! urban core, growing outward), nested in communities, streets and districts cut by random
//! guillotine splits, with Chinese names and valid codes. Deterministic for a seed.
//!
//! Every region's ring is walked along the same shared lattice vertices and edge midpoints as its
//! neighbours', so the layers tile exactly: no gaps, no overlaps, children inside parents.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wangge_domain::region::{AreaClass, Level};

pub const CITY_CODE: &str = "990100";
pub const CITY_NAME: &str = "示范市";
pub const PROVINCE_NAME: &str = "示范省";
/// The middle of the generated city (lon, lat); the demo's staff work in the grid here.
pub const CENTER: (f64, f64) = (114.30, 30.58);
const CORE_CELL_M: f64 = 100.0;
const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

#[derive(Debug, Clone)]
pub struct GenRegion {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent_code: Option<String>,
    pub area_class: AreaClass,
    pub polygon: Polygon<f64>,
}

impl GenRegion {
    pub fn geometry(&self) -> MultiPolygon<f64> {
        MultiPolygon(vec![self.polygon.clone()])
    }
}

#[derive(Debug, Clone)]
pub struct GeneratedCity {
    /// Every region, parents before children.
    pub regions: Vec<GenRegion>,
}

impl GeneratedCity {
    pub fn of_level(&self, level: Level) -> impl Iterator<Item = &GenRegion> {
        self.regions.iter().filter(move |r| r.level == level)
    }
}

/// A rectangle of lattice cells [x0, x1) × [y0, y1); y grows northward.
#[derive(Debug, Clone, Copy)]
struct Block {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Block {
    fn cells(&self) -> usize {
        (self.x1 - self.x0) * (self.y1 - self.y0)
    }
}

/// Splits a block into pieces of about `target` cells by random guillotine cuts.
fn split(block: Block, target: usize, rng: &mut ChaCha8Rng, out: &mut Vec<Block>) {
    let (w, h) = (block.x1 - block.x0, block.y1 - block.y0);
    if block.cells() <= target * 3 / 2 || (w < 2 && h < 2) {
        out.push(block);
        return;
    }
    let cut_x = w >= h && w >= 2 || h < 2;
    let len = if cut_x { w } else { h };
    let at = ((len as f64) * rng.random_range(0.38..0.62)).round() as usize;
    let at = at.clamp(1, len - 1);
    let (a, b) = if cut_x {
        (
            Block {
                x1: block.x0 + at,
                ..block
            },
            Block {
                x0: block.x0 + at,
                ..block
            },
        )
    } else {
        (
            Block {
                y1: block.y0 + at,
                ..block
            },
            Block {
                y0: block.y0 + at,
                ..block
            },
        )
    };
    split(a, target, rng, out);
    split(b, target, rng, out);
}

/// The midpoint of a→b moved perpendicular to the edge by `bend` × its length (in metres, so
/// the bend looks the same whatever the edge's direction).
fn bent(a: Coord<f64>, b: Coord<f64>, bend: f64, lon_m: f64) -> Coord<f64> {
    let dx = (b.x - a.x) * lon_m;
    let dy = (b.y - a.y) * METRES_PER_DEGREE_LAT;
    Coord {
        x: (a.x + b.x) / 2.0 - dy * bend / lon_m,
        y: (a.y + b.y) / 2.0 + dx * bend / METRES_PER_DEGREE_LAT,
    }
}

/// Lattice coordinates: corners plus jittered midpoints of every edge.
struct Lattice {
    nx: usize,
    corner: Vec<Coord<f64>>, // (nx+1) × (ny+1)
    h_mid: Vec<Coord<f64>>,  // nx × (ny+1): midpoint of the edge (i,j)-(i+1,j)
    v_mid: Vec<Coord<f64>>,  // (nx+1) × ny: midpoint of the edge (i,j)-(i,j+1)
}

impl Lattice {
    fn new(nx: usize, ny: usize, rng: &mut ChaCha8Rng) -> Lattice {
        let lon_m = METRES_PER_DEGREE_LAT * CENTER.1.to_radians().cos();
        // Cell size grows with distance from the centre: 100 m in the core, up to ~400 m outside.
        let edges = |n: usize| -> Vec<f64> {
            let mut pos = vec![0.0];
            for k in 0..n {
                let t = ((k as f64 + 0.5) / n as f64 - 0.5).abs() * 2.0;
                let size = CORE_CELL_M * (1.0 + 3.0 * t.powi(2));
                let last = pos.last().copied().unwrap_or(0.0);
                pos.push(last + size);
            }
            let mid = pos[n] / 2.0;
            pos.iter().map(|p| p - mid).collect()
        };
        let xs = edges(nx);
        let ys = edges(ny);
        // The smaller of the two cells meeting at an inner corner bounds how far it may move.
        let room = |pos: &[f64], k: usize| (pos[k] - pos[k - 1]).min(pos[k + 1] - pos[k]);
        let to_deg = |x: f64, y: f64| Coord {
            x: CENTER.0 + x / lon_m,
            y: CENTER.1 + y / METRES_PER_DEGREE_LAT,
        };
        let mut corner = Vec::with_capacity((nx + 1) * (ny + 1));
        for j in 0..=ny {
            for i in 0..=nx {
                // The city's outline stays straight; inner corners move up to 20 % of a cell.
                let jx = if i == 0 || i == nx {
                    0.0
                } else {
                    rng.random_range(-0.2..0.2) * room(&xs, i)
                };
                let jy = if j == 0 || j == ny {
                    0.0
                } else {
                    rng.random_range(-0.2..0.2) * room(&ys, j)
                };
                corner.push(to_deg(xs[i] + jx, ys[j] + jy));
            }
        }
        let c = |i: usize, j: usize| corner[j * (nx + 1) + i];
        let mut h_mid = Vec::with_capacity(nx * (ny + 1));
        for j in 0..=ny {
            for i in 0..nx {
                let (a, b) = (c(i, j), c(i + 1, j));
                let bend = if j == 0 || j == ny {
                    0.0
                } else {
                    rng.random_range(-0.1..0.1)
                };
                h_mid.push(bent(a, b, bend, lon_m));
            }
        }
        let mut v_mid = Vec::with_capacity((nx + 1) * ny);
        for j in 0..ny {
            for i in 0..=nx {
                let (a, b) = (c(i, j), c(i, j + 1));
                let bend = if i == 0 || i == nx {
                    0.0
                } else {
                    rng.random_range(-0.1..0.1)
                };
                v_mid.push(bent(a, b, bend, lon_m));
            }
        }
        Lattice {
            nx,
            corner,
            h_mid,
            v_mid,
        }
    }

    fn c(&self, i: usize, j: usize) -> Coord<f64> {
        self.corner[j * (self.nx + 1) + i]
    }

    fn h(&self, i: usize, j: usize) -> Coord<f64> {
        self.h_mid[j * self.nx + i]
    }

    fn v(&self, i: usize, j: usize) -> Coord<f64> {
        self.v_mid[j * (self.nx + 1) + i]
    }

    /// The block's outline, counter-clockwise, through every shared corner and midpoint.
    fn ring(&self, b: Block) -> Polygon<f64> {
        let mut pts = Vec::new();
        for i in b.x0..b.x1 {
            pts.push(self.c(i, b.y0));
            pts.push(self.h(i, b.y0));
        }
        for j in b.y0..b.y1 {
            pts.push(self.c(b.x1, j));
            pts.push(self.v(b.x1, j));
        }
        for i in (b.x0..b.x1).rev() {
            pts.push(self.c(i + 1, b.y1));
            pts.push(self.h(i, b.y1));
        }
        for j in (b.y0..b.y1).rev() {
            pts.push(self.c(b.x0, j + 1));
            pts.push(self.v(b.x0, j));
        }
        pts.push(pts[0]);
        Polygon::new(LineString(pts), vec![])
    }
}

const DISTRICT_NAMES: &[&str] = &[
    "东城区",
    "西湖区",
    "南岸区",
    "北山区",
    "滨江区",
    "高新区",
    "青山区",
    "龙华区",
    "金水区",
    "明珠区",
    "临港区",
    "白云区",
    "天河区",
    "清河区",
    "望江区",
    "凤凰区",
];
const NAME_FIRST: &[&str] = &[
    "和平", "新华", "朝阳", "建设", "解放", "人民", "光明", "幸福", "长安", "文昌", "永安", "兴隆",
    "安定", "太平", "东风", "红星", "锦绣", "荷花", "桃园", "柳岸", "松林", "梅园", "翠竹", "金桥",
    "银河", "长江", "黄河", "泰山", "华山", "望湖", "临江", "青年", "育才", "振兴", "富强", "民主",
];
const NAME_SECOND: &[&str] = &[
    "路", "里", "苑", "园", "坊", "湾", "桥", "门", "岭", "港", "庄", "坪", "巷", "湖", "台", "村",
];

fn district_name(k: usize) -> String {
    match DISTRICT_NAMES.get(k) {
        Some(n) => (*n).to_owned(),
        None => format!("第{}区", k + 1),
    }
}

/// A name unique within its parent, drawn from the syllable tables.
fn local_name(
    k: usize,
    rng: &mut ChaCha8Rng,
    used: &mut std::collections::HashSet<String>,
) -> String {
    for _ in 0..20 {
        let a = NAME_FIRST[rng.random_range(0..NAME_FIRST.len())];
        let b = NAME_SECOND[rng.random_range(0..NAME_SECOND.len())];
        let name = format!("{a}{b}");
        if used.insert(name.clone()) {
            return name;
        }
    }
    let name = format!("{}{}", NAME_FIRST[k % NAME_FIRST.len()], k + 1);
    used.insert(name.clone());
    name
}

/// Generates a city of about `grids` unit grids (at least 1).
pub fn generate_city(grids: usize, seed: u64) -> GeneratedCity {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let grids = grids.max(1);
    let nx = (grids as f64).sqrt().ceil() as usize;
    let ny = grids.div_ceil(nx);
    let lattice = Lattice::new(nx, ny, &mut rng);
    let city = Block {
        x0: 0,
        y0: 0,
        x1: nx,
        y1: ny,
    };
    let core_radius = (nx.min(ny) as f64) * 0.2;
    let is_key = |b: &Block| {
        let cx = (b.x0 + b.x1) as f64 / 2.0 - nx as f64 / 2.0;
        let cy = (b.y0 + b.y1) as f64 / 2.0 - ny as f64 / 2.0;
        (cx * cx + cy * cy).sqrt() <= core_radius
    };
    let mut regions = vec![GenRegion {
        code: CITY_CODE.into(),
        name: CITY_NAME.into(),
        level: Level::City,
        parent_code: None,
        area_class: AreaClass::General,
        polygon: lattice.ring(city),
    }];
    let mut districts = Vec::new();
    let district_target = (city.cells() / 9).clamp(1, 2500);
    split(city, district_target, &mut rng, &mut districts);
    districts.truncate(99);
    let mut district_names = std::collections::HashSet::new();
    for (dk, d) in districts.into_iter().enumerate() {
        let dcode = format!("{}{:02}", &CITY_CODE[..4], dk + 2);
        let dname = district_name(dk);
        district_names.insert(dname.clone());
        regions.push(GenRegion {
            code: dcode.clone(),
            name: dname,
            level: Level::District,
            parent_code: Some(CITY_CODE.into()),
            area_class: if is_key(&d) {
                AreaClass::Key
            } else {
                AreaClass::General
            },
            polygon: lattice.ring(d),
        });
        let mut streets = Vec::new();
        split(d, 180, &mut rng, &mut streets);
        let mut street_names = std::collections::HashSet::new();
        for (sk, s) in streets.into_iter().enumerate().take(999) {
            let scode = format!("{dcode}{:03}", sk + 1);
            let suffix = if is_key(&s) || sk % 4 != 3 {
                "街道"
            } else {
                "镇"
            };
            let sname = format!("{}{suffix}", local_name(sk, &mut rng, &mut street_names));
            regions.push(GenRegion {
                code: scode.clone(),
                name: sname,
                level: Level::Street,
                parent_code: Some(dcode.clone()),
                area_class: if is_key(&s) {
                    AreaClass::Key
                } else {
                    AreaClass::General
                },
                polygon: lattice.ring(s),
            });
            let mut communities = Vec::new();
            split(s, 16, &mut rng, &mut communities);
            let mut community_names = std::collections::HashSet::new();
            for (ck, c) in communities.into_iter().enumerate().take(999) {
                let ccode = format!("{scode}{:03}", ck + 1);
                let suffix = if suffix == "镇" { "村" } else { "社区" };
                let cname = format!("{}{suffix}", local_name(ck, &mut rng, &mut community_names));
                regions.push(GenRegion {
                    code: ccode.clone(),
                    name: cname.clone(),
                    level: Level::Community,
                    parent_code: Some(scode.clone()),
                    area_class: if is_key(&c) {
                        AreaClass::Key
                    } else {
                        AreaClass::General
                    },
                    polygon: lattice.ring(c),
                });
                // Grids are numbered west → east, north → south inside the community.
                let mut seq = 0;
                for y in (c.y0..c.y1).rev() {
                    for x in c.x0..c.x1 {
                        seq += 1;
                        let cell = Block {
                            x0: x,
                            y0: y,
                            x1: x + 1,
                            y1: y + 1,
                        };
                        regions.push(GenRegion {
                            code: format!("{ccode}{seq:03}"),
                            name: format!("{cname}第{seq}网格"),
                            level: Level::Grid,
                            parent_code: Some(ccode.clone()),
                            area_class: if is_key(&cell) {
                                AreaClass::Key
                            } else {
                                AreaClass::General
                            },
                            polygon: lattice.ring(cell),
                        });
                    }
                }
            }
        }
    }
    GeneratedCity { regions }
}

/// Writes `count` uniformly random points inside `bbox` as `id,lon,lat` (7 decimals, ~1 cm).
pub fn write_points(
    bbox: geo::Rect<f64>,
    count: u64,
    seed: u64,
    out: &std::path::Path,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    w.write_all(b"id,lon,lat\n")?;
    let (min, max) = (bbox.min(), bbox.max());
    for i in 0..count {
        let lon = rng.random_range(min.x..=max.x);
        let lat = rng.random_range(min.y..=max.y);
        writeln!(w, "{i},{lon:.7},{lat:.7}")?;
    }
    w.flush()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wangge_domain::region::RegionCode;

    #[test]
    fn same_seed_same_city_and_codes_are_valid() {
        let a = generate_city(500, 7);
        let b = generate_city(500, 7);
        assert_eq!(a.regions.len(), b.regions.len());
        assert_eq!(a.regions[10].polygon, b.regions[10].polygon);
        let grids = a.of_level(Level::Grid).count();
        assert!((500..560).contains(&grids), "{grids}");
        for r in &a.regions {
            RegionCode::parse_with_parent(&r.code, r.level, r.parent_code.as_deref()).unwrap();
        }
        let c = generate_city(500, 8);
        assert_ne!(a.regions[10].polygon, c.regions[10].polygon);
    }

    #[test]
    fn grid_sequences_fit_three_digits_at_shenzhen_scale() {
        let city = generate_city(18_000, 1);
        assert!(city.of_level(Level::Grid).count() >= 18_000);
        assert!(city.of_level(Level::District).count() >= 5);
    }
}
