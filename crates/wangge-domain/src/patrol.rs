//! Patrol tracks (巡查轨迹, issue 8): how far a grid worker walked and how much of their grid
//! they came near.
//!
//! **Which fixes count** ([`TrackRules`]). Fixes are taken in time order. A fix is dropped when
//! its longitude or latitude is not a finite number in range, when the phone reported an
//! accuracy worse than `max_accuracy_m` (default 50 m: a phone outdoors does 5–20 m; worse means
//! a cell-tower guess), or when reaching it from the last kept fix needs a speed above
//! `max_speed_mps` (default 20 m/s, 72 km/h: no patrol on foot, bicycle or e-bike goes faster; a
//! time gap under one second counts as one second). A jump is usually one bad fix, but it can
//! be the kept fix that was wrong (the first fix after a phone wakes up): when
//! [`REACQUIRE`] dropped fixes in a row agree with each other, the track restarts from them. The
//! jump itself is never counted as distance, so the track is a list of runs.
//!
//! **Length**: the sum of great-circle (haversine) distances between consecutive kept fixes of
//! each run, on a sphere of the WGS-84 mean radius (6,371,008.8 m; within 0.5 % of the
//! ellipsoidal distance at any latitude, far inside GPS noise over a walk).
//!
//! **Coverage** ([`coverage`]): the share of a grid's area lying within `radius_m` (default
//! 30 m: what a worker on foot sees of a street) of the track. The grid is projected to local
//! metres around its centre (equirectangular: exact enough over a grid of a few kilometres),
//! cut into square cells of `cell_m` (default 10 m; larger when the grid would need more than
//! `max_cells`), and a cell counts as covered when its centre is within the radius of a track
//! segment. Answer: covered cells inside the grid ÷ cells inside the grid, in 0..=1. Adding fixes
//! after the last one never lowers it (segments are only ever added).

use chrono::{DateTime, Utc};

/// Mean earth radius of WGS-84 (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Dropped fixes in a row that, agreeing with each other, restart the track from them.
pub const REACQUIRE: usize = 3;

/// One position reported by the phone, in WGS-84.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub at: DateTime<Utc>,
    pub lon: f64,
    pub lat: f64,
    /// The phone's own estimate of its error, metres (the 68 % radius), when it gave one.
    pub accuracy: Option<f64>,
}

/// Which fixes count for length and coverage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackRules {
    pub max_accuracy_m: f64,
    pub max_speed_mps: f64,
}

impl Default for TrackRules {
    fn default() -> Self {
        TrackRules {
            max_accuracy_m: 50.0,
            max_speed_mps: 20.0,
        }
    }
}

/// How coverage is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoverageRules {
    /// A place within this distance of the track counts as seen.
    pub radius_m: f64,
    /// The side of a raster cell.
    pub cell_m: f64,
    /// The most cells a grid is cut into; huge grids get larger cells.
    pub max_cells: usize,
}

impl Default for CoverageRules {
    fn default() -> Self {
        CoverageRules {
            radius_m: 30.0,
            cell_m: 10.0,
            max_cells: 200_000,
        }
    }
}

/// A grid's outline: polygons, each an exterior ring followed by its holes, as (lon, lat).
pub type Outline = [Vec<Vec<(f64, f64)>>];

/// The great-circle distance between two points (lon, lat in degrees), metres.
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.1.to_radians(), b.1.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.0 - a.0).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

fn plausible(f: &Fix, rules: &TrackRules) -> bool {
    f.lon.is_finite()
        && f.lat.is_finite()
        && (-180.0..=180.0).contains(&f.lon)
        && (-90.0..=90.0).contains(&f.lat)
        && f.accuracy
            .is_none_or(|a| a.is_finite() && a >= 0.0 && a <= rules.max_accuracy_m)
}

fn reachable(from: &Fix, to: &Fix, rules: &TrackRules) -> bool {
    let seconds = ((to.at - from.at).num_milliseconds() as f64 / 1000.0).max(1.0);
    haversine_m((from.lon, from.lat), (to.lon, to.lat)) <= rules.max_speed_mps * seconds
}

/// The fixes that count, in time order, as runs of (lon, lat) (a jump starts a new run).
pub fn runs(fixes: &[Fix], rules: &TrackRules) -> Vec<Vec<(f64, f64)>> {
    let mut sorted: Vec<&Fix> = fixes.iter().filter(|f| plausible(f, rules)).collect();
    sorted.sort_by_key(|f| f.at);
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last: Option<&Fix> = None;
    let mut pending: Vec<&Fix> = Vec::new();
    for f in sorted {
        match last {
            Some(l) if !reachable(l, f, rules) => {
                if pending.last().is_some_and(|p| !reachable(p, f, rules)) {
                    pending.clear();
                }
                pending.push(f);
                if pending.len() >= REACQUIRE {
                    out.push(pending.iter().map(|p| (p.lon, p.lat)).collect());
                    last = pending.last().copied();
                    pending.clear();
                }
            }
            Some(_) => {
                pending.clear();
                if let Some(run) = out.last_mut() {
                    run.push((f.lon, f.lat));
                }
                last = Some(f);
            }
            None => {
                out.push(vec![(f.lon, f.lat)]);
                last = Some(f);
            }
        }
    }
    out
}

/// The length of a track in metres, by the rules above.
pub fn track_length_m(fixes: &[Fix], rules: &TrackRules) -> f64 {
    runs(fixes, rules)
        .iter()
        .map(|run| run.windows(2).map(|w| haversine_m(w[0], w[1])).sum::<f64>())
        .sum()
}

/// Local metres around an origin.
struct Projection {
    lon0: f64,
    lat0: f64,
    kx: f64,
    ky: f64,
}

impl Projection {
    fn new(lon0: f64, lat0: f64) -> Self {
        let ky = EARTH_RADIUS_M.to_radians();
        Projection {
            lon0,
            lat0,
            kx: ky * lat0.to_radians().cos().abs().max(1e-6),
            ky,
        }
    }

    fn xy(&self, p: (f64, f64)) -> (f64, f64) {
        ((p.0 - self.lon0) * self.kx, (p.1 - self.lat0) * self.ky)
    }
}

/// `a·x + b ∈ [lo, hi]` as an interval of x (`None` when empty).
fn linear(a: f64, b: f64, lo: f64, hi: f64) -> Option<(f64, f64)> {
    if a.abs() < 1e-12 {
        return (lo <= b && b <= hi).then_some((f64::NEG_INFINITY, f64::INFINITY));
    }
    let (x1, x2) = ((lo - b) / a, (hi - b) / a);
    Some((x1.min(x2), x1.max(x2)))
}

/// Where the horizontal line `y` crosses the set of points within `r` of the segment a–b.
fn capsule_row(a: (f64, f64), b: (f64, f64), r: f64, y: f64) -> Option<(f64, f64)> {
    let mut out: Option<(f64, f64)> = None;
    let mut add = |iv: Option<(f64, f64)>| {
        if let Some((lo, hi)) = iv.filter(|(lo, hi)| lo <= hi) {
            out = Some(out.map_or((lo, hi), |(l, h)| (l.min(lo), h.max(hi))));
        }
    };
    for p in [a, b] {
        let dy = y - p.1;
        let rest = r * r - dy * dy;
        if rest >= 0.0 {
            let s = rest.sqrt();
            add(Some((p.0 - s, p.0 + s)));
        }
    }
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    if len2 > 0.0 {
        // Within the segment's span: 0 ≤ (P−A)·d ≤ |d|²; and near its line: |d × (P−A)| ≤ r|d|.
        let along = linear(dx, dy * (y - a.1) - dx * a.0, 0.0, len2);
        let len = len2.sqrt();
        let across = linear(-dy, dx * (y - a.1) + dy * a.0, -r * len, r * len);
        if let (Some(p), Some(q)) = (along, across) {
            add(Some((p.0.max(q.0), p.1.min(q.1))));
        }
    }
    out
}

/// The share of the grid within the radius of the track, 0..=1 (0 for an empty or degenerate
/// grid, or a track with no usable fix).
pub fn coverage(grid: &Outline, fixes: &[Fix], track: &TrackRules, rules: &CoverageRules) -> f64 {
    coverage_of_runs(grid, &runs(fixes, track), rules)
}

/// [`coverage`] of runs already filtered.
pub fn coverage_of_runs(grid: &Outline, runs: &[Vec<(f64, f64)>], rules: &CoverageRules) -> f64 {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let vertices = || {
        grid.iter()
            .flatten()
            .flatten()
            .filter(finite)
            .filter(|p| p.0.abs() <= 180.0 && p.1.abs() <= 90.0)
    };
    let (mut min_lon, mut min_lat, mut max_lon, mut max_lat) = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    for p in vertices() {
        min_lon = min_lon.min(p.0);
        max_lon = max_lon.max(p.0);
        min_lat = min_lat.min(p.1);
        max_lat = max_lat.max(p.1);
    }
    if !(min_lon < max_lon && min_lat < max_lat) {
        return 0.0;
    }
    let radius = if rules.radius_m.is_finite() {
        rules.radius_m.max(0.0)
    } else {
        0.0
    };
    let proj = Projection::new((min_lon + max_lon) / 2.0, (min_lat + max_lat) / 2.0);
    let (x0, y0) = proj.xy((min_lon, min_lat));
    let (x1, y1) = proj.xy((max_lon, max_lat));
    let (w, h) = (x1 - x0, y1 - y0);
    let max_cells = rules.max_cells.clamp(16, 4_000_000) as f64;
    let mut cell = if rules.cell_m.is_finite() && rules.cell_m > 0.0 {
        rules.cell_m
    } else {
        10.0
    };
    // At least 8 cells across a small grid; no more than max_cells over a large one.
    cell = cell
        .min(w.max(h) / 8.0)
        .max((w * h / max_cells).sqrt())
        .max(w / max_cells)
        .max(h / max_cells);
    if !(cell.is_finite() && cell > 0.0) {
        return 0.0;
    }
    let nx = ((w / cell).ceil() as usize).max(1);
    let ny = ((h / cell).ceil() as usize).max(1);
    // Rings in metres; edges with a non-finite end are left out.
    let rings: Vec<Vec<(f64, f64)>> = grid
        .iter()
        .flatten()
        .map(|ring| ring.iter().filter(finite).map(|p| proj.xy(*p)).collect())
        .collect();
    let mut inside = vec![false; nx * ny];
    let mut crossings = Vec::new();
    for j in 0..ny {
        let y = y0 + (j as f64 + 0.5) * cell;
        crossings.clear();
        for ring in &rings {
            let n = ring.len();
            for k in 0..n {
                let (a, b) = (ring[k], ring[(k + 1) % n]);
                // Half-open in y, so a vertex on the row counts once.
                if (a.1 > y) != (b.1 > y) {
                    crossings.push(a.0 + (y - a.1) / (b.1 - a.1) * (b.0 - a.0));
                }
            }
        }
        crossings.sort_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            let (lo, hi) = (
                column_from(pair[0], x0, cell),
                column_to(pair[1], x0, cell, nx),
            );
            for i in lo..hi {
                inside[j * nx + i] = true;
            }
        }
    }
    let total = inside.iter().filter(|c| **c).count();
    if total == 0 {
        return 0.0;
    }
    let mut covered = vec![false; nx * ny];
    for run in runs {
        let pts: Vec<(f64, f64)> = run.iter().filter(finite).map(|p| proj.xy(*p)).collect();
        let segments: Vec<((f64, f64), (f64, f64))> = match pts.len() {
            0 => Vec::new(),
            1 => vec![(pts[0], pts[0])],
            _ => pts.windows(2).map(|w| (w[0], w[1])).collect(),
        };
        for (a, b) in segments {
            let (ylo, yhi) = (a.1.min(b.1) - radius, a.1.max(b.1) + radius);
            if yhi < y0 || ylo > y1 {
                continue;
            }
            let jlo = column_from(ylo, y0, cell);
            let jhi = column_to(yhi, y0, cell, ny);
            for j in jlo..jhi {
                let y = y0 + (j as f64 + 0.5) * cell;
                if let Some((xl, xh)) = capsule_row(a, b, radius, y) {
                    for i in column_from(xl, x0, cell)..column_to(xh, x0, cell, nx) {
                        covered[j * nx + i] = true;
                    }
                }
            }
        }
    }
    let hit = inside
        .iter()
        .zip(&covered)
        .filter(|(i, c)| **i && **c)
        .count();
    (hit as f64 / total as f64).clamp(0.0, 1.0)
}

/// The first cell whose centre is at or after `x`.
fn column_from(x: f64, x0: f64, cell: f64) -> usize {
    let i = ((x - x0) / cell - 0.5).ceil();
    if i.is_nan() || i <= 0.0 {
        0
    } else if i >= usize::MAX as f64 {
        usize::MAX
    } else {
        i as usize
    }
}

/// One past the last cell whose centre is at or before `x`, at most `n`.
fn column_to(x: f64, x0: f64, cell: f64, n: usize) -> usize {
    let i = ((x - x0) / cell - 0.5).floor() + 1.0;
    if i.is_nan() || i <= 0.0 {
        0
    } else if i >= n as f64 {
        n
    } else {
        i as usize
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// Metres per degree of latitude on the sphere.
    const M_PER_DEG: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
    const LON0: f64 = 114.05;
    const LAT0: f64 = 22.54;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap()
    }

    /// A point `x` metres east and `y` metres north of the origin.
    fn at(x: f64, y: f64) -> (f64, f64) {
        (
            LON0 + x / (M_PER_DEG * LAT0.to_radians().cos()),
            LAT0 + y / M_PER_DEG,
        )
    }

    fn square(side: f64) -> Vec<Vec<Vec<(f64, f64)>>> {
        vec![vec![vec![
            at(0.0, 0.0),
            at(side, 0.0),
            at(side, side),
            at(0.0, side),
            at(0.0, 0.0),
        ]]]
    }

    /// A walk through the points, one fix every `step` metres at 1 m/s.
    fn walk(points: &[(f64, f64)], step: f64) -> Vec<Fix> {
        let mut out = Vec::new();
        let mut s = 0i64;
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let d = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            let n = (d / step).ceil().max(1.0) as usize;
            for k in 0..n {
                let f = k as f64 / n as f64;
                let (lon, lat) = at(a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1));
                out.push(Fix {
                    at: t(s),
                    lon,
                    lat,
                    accuracy: Some(8.0),
                });
                s += step as i64;
            }
        }
        if let Some(b) = points.last() {
            let (lon, lat) = at(b.0, b.1);
            out.push(Fix {
                at: t(s),
                lon,
                lat,
                accuracy: Some(8.0),
            });
        }
        out
    }

    #[test]
    fn length_of_a_straight_walk() {
        let fixes = walk(&[(0.0, 0.0), (1000.0, 0.0)], 10.0);
        let len = track_length_m(&fixes, &TrackRules::default());
        assert!((len - 1000.0).abs() < 2.0, "{len}");
    }

    #[test]
    fn bad_fixes_do_not_count() {
        let mut fixes = walk(&[(0.0, 0.0), (300.0, 0.0)], 10.0);
        // A cell-tower guess and a jump of 5 km in ten seconds.
        let (lon, lat) = at(150.0, 400.0);
        fixes.push(Fix {
            at: t(155),
            lon,
            lat,
            accuracy: Some(500.0),
        });
        let (lon, lat) = at(150.0, 5000.0);
        fixes.push(Fix {
            at: t(151),
            lon,
            lat,
            accuracy: None,
        });
        fixes.push(Fix {
            at: t(152),
            lon: f64::NAN,
            lat,
            accuracy: None,
        });
        let len = track_length_m(&fixes, &TrackRules::default());
        assert!((len - 300.0).abs() < 1.0, "{len}");
    }

    #[test]
    fn a_wrong_first_fix_is_left_behind() {
        let (lon, lat) = at(5000.0, 5000.0);
        let mut fixes = vec![Fix {
            at: t(-10),
            lon,
            lat,
            accuracy: None,
        }];
        fixes.extend(walk(&[(0.0, 0.0), (200.0, 0.0)], 10.0));
        let len = track_length_m(&fixes, &TrackRules::default());
        // The first REACQUIRE fixes of the walk restart the track; the jump is not distance.
        assert!((len - 200.0).abs() < 1.0, "{len}");
    }

    #[test]
    fn walking_the_middle_covers_two_radii() {
        let side = 200.0;
        let fixes = walk(&[(-50.0, 100.0), (250.0, 100.0)], 5.0);
        let share = coverage(
            &square(side),
            &fixes,
            &TrackRules::default(),
            &CoverageRules::default(),
        );
        assert!((share - 60.0 / 200.0).abs() < 0.03, "{share}");
    }

    #[test]
    fn a_track_outside_covers_nothing() {
        let fixes = walk(&[(-100.0, 400.0), (300.0, 400.0)], 5.0);
        let share = coverage(
            &square(200.0),
            &fixes,
            &TrackRules::default(),
            &CoverageRules::default(),
        );
        assert_eq!(share, 0.0);
    }

    #[test]
    fn a_lawnmower_walk_covers_everything() {
        let mut path = Vec::new();
        let mut y = 10.0;
        let mut east = true;
        while y < 200.0 {
            if east {
                path.extend([(0.0, y), (200.0, y)]);
            } else {
                path.extend([(200.0, y), (0.0, y)]);
            }
            east = !east;
            y += 40.0;
        }
        let fixes = walk(&path, 5.0);
        let share = coverage(
            &square(200.0),
            &fixes,
            &TrackRules::default(),
            &CoverageRules::default(),
        );
        assert!(share > 0.98, "{share}");
    }

    #[test]
    fn holes_are_not_part_of_the_grid() {
        // The upper half is a hole: walking the lower half's middle covers 60 of its 100 m.
        let mut grid = square(200.0);
        grid[0].push(vec![
            at(0.0, 100.0),
            at(200.0, 100.0),
            at(200.0, 200.0),
            at(0.0, 200.0),
        ]);
        let fixes = walk(&[(-50.0, 50.0), (250.0, 50.0)], 5.0);
        let share = coverage(
            &grid,
            &fixes,
            &TrackRules::default(),
            &CoverageRules::default(),
        );
        assert!((share - 0.6).abs() < 0.05, "{share}");
    }

    #[test]
    fn a_huge_grid_has_bounded_cells() {
        let grid = square(200_000.0);
        let fixes = walk(&[(0.0, 100_000.0), (200_000.0, 100_000.0)], 5_000.0);
        let share = coverage(
            &grid,
            &fixes,
            &TrackRules {
                max_speed_mps: 1e9,
                ..TrackRules::default()
            },
            &CoverageRules::default(),
        );
        assert!((0.0..=0.01).contains(&share), "{share}");
    }

    fn arb_fix() -> impl Strategy<Value = Fix> {
        (
            0i64..10_000,
            prop_oneof![
                Just(f64::NAN),
                Just(f64::INFINITY),
                -300.0f64..300.0,
                -200.0f64..400.0
            ],
            prop_oneof![Just(f64::NAN), -200.0f64..200.0, -100.0f64..300.0],
            proptest::option::of(prop_oneof![Just(f64::NAN), -10.0f64..100.0]),
        )
            .prop_map(|(s, x, y, accuracy)| {
                let (lon, lat) = if x.is_finite() && y.is_finite() {
                    at(x, y)
                } else {
                    (x, y)
                };
                Fix {
                    at: t(s),
                    lon,
                    lat,
                    accuracy,
                }
            })
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_in_range(
            fixes in proptest::collection::vec(arb_fix(), 0..40),
            grid in proptest::collection::vec((prop_oneof![Just(f64::NAN), -100.0f64..300.0], -100.0f64..300.0), 0..8),
            radius in prop_oneof![Just(f64::NAN), Just(-1.0), 0.0f64..100.0],
            cell in prop_oneof![Just(0.0), Just(f64::NAN), 0.5f64..50.0],
        ) {
            let outline = vec![vec![grid.iter().map(|(x, y)| if x.is_finite() { at(*x, *y) } else { (*x, *y) }).collect::<Vec<_>>()]];
            let rules = CoverageRules { radius_m: radius, cell_m: cell, max_cells: 10_000 };
            let share = coverage(&outline, &fixes, &TrackRules::default(), &rules);
            prop_assert!((0.0..=1.0).contains(&share));
            let len = track_length_m(&fixes, &TrackRules::default());
            prop_assert!(len.is_finite() && len >= 0.0);
        }

        #[test]
        fn more_fixes_never_lower_coverage(
            mut fixes in proptest::collection::vec(arb_fix(), 0..30),
            more in proptest::collection::vec(arb_fix(), 1..10),
        ) {
            fixes.sort_by_key(|f| f.at);
            let last = fixes.last().map_or(t(0), |f| f.at);
            let grid = square(200.0);
            let rules = CoverageRules::default();
            let before = coverage(&grid, &fixes, &TrackRules::default(), &rules);
            let len_before = track_length_m(&fixes, &TrackRules::default());
            for (k, mut f) in more.into_iter().enumerate() {
                f.at = last + chrono::Duration::seconds(1 + k as i64 + (f.at - t(0)).num_seconds());
                fixes.push(f);
            }
            let after = coverage(&grid, &fixes, &TrackRules::default(), &rules);
            prop_assert!(after >= before, "{before} → {after}");
            prop_assert!(track_length_m(&fixes, &TrackRules::default()) >= len_before - 1e-9);
        }
    }
}
