//! Point → polygon lookup over a set of polygons that tile a region.
//!
//! # Boundary rule
//!
//! Membership is decided by the half-open crossing-number test (a ray cast
//! towards +x), applied to every ring of a polygon, holes included: an edge
//! `a → b` is counted iff `(a.y > py) != (b.y > py)` and the x of the edge at
//! height `py` is strictly greater than `px`; the point is inside iff the
//! count is odd. The comparison "edge x > `px`" is evaluated *exactly*, with
//! an adaptive-precision orientation predicate rather than a rounded
//! intersection x, so the outcome depends only on the edge's two endpoints
//! and never on the ring or direction in which the edge is traversed.
//!
//! Consequences, for polygons that tile a region with exactly shared vertices:
//!
//! - a point on an edge shared by two polygons belongs to exactly one of
//!   them: for a non-horizontal edge, the polygon on its east (+x) side; for a
//!   horizontal edge, the polygon on its north (+y) side;
//! - a point on a vertex shared by several polygons belongs to exactly one of
//!   them (the one containing the points just north-east of it, i.e. the
//!   point moved by an infinitesimal `(δx, δy)` with `0 < δy ≪ δx`);
//! - a point inside a hole belongs to no polygon of which it is a hole; a
//!   point on a hole's boundary follows the same east/north rule as between
//!   any two adjacent polygons (the hole acting as the neighbour);
//! - on the outer boundary of the whole tiling, points on its west and south
//!   sides are inside (they belong to the polygon there) and points on its
//!   east and north sides are outside (no polygon).
//!
//! If polygons overlap, the point goes to the claiming polygon given first to
//! [`PolygonIndex::new`]. Non-finite input coordinates locate nowhere.
//!
//! # Implementation
//!
//! A uniform raster of buckets covers the extent of all polygons. Buckets
//! whose (slightly enlarged) area no polygon edge touches are resolved when
//! the index is built, so most points are answered with one array read;
//! other buckets list candidate polygons whose ring edges, kept in flat
//! arrays sorted by lower y, are tested with the rule above.

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{Coord, MultiPolygon};

/// Raster buckets per polygon; measured on jittered grids, more buckets
/// raise the share of one-read answers but grow memory for little gain.
const BUCKETS_PER_ITEM: usize = 32;
const MAX_BUCKETS: usize = 1 << 24;

/// Bucket value meaning "no polygon anywhere in this bucket".
const EMPTY: u32 = u32::MAX;
/// Bucket values at or above this (other than [`EMPTY`]) point into the
/// candidate list; values below are the answer itself.
const MIXED: u32 = 1 << 31;
/// Flag on a candidate that covers its whole bucket (no ring test needed).
const WHOLE: u32 = 1 << 31;

/// A non-horizontal ring edge with `y0 < y1`.
#[derive(Debug, Clone, Copy)]
struct Edge {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Edge {
    /// Whether this edge is counted for a ray cast from `(x, y)` towards +x.
    #[inline(always)]
    fn crosses(&self, x: f64, y: f64) -> bool {
        // With y0 < y1, `(a.y > y) != (b.y > y)` is `y0 <= y < y1`.
        if !(self.y0 <= y && y < self.y1) {
            return false;
        }
        if self.x0 > x && self.x1 > x {
            return true;
        }
        if self.x0 <= x && self.x1 <= x {
            return false;
        }
        // The edge's x at height y exceeds x iff the point is strictly left
        // of the upward edge; decided exactly.
        RobustKernel::orient2d(
            Coord {
                x: self.x0,
                y: self.y0,
            },
            Coord {
                x: self.x1,
                y: self.y1,
            },
            Coord { x, y },
        ) == Orientation::CounterClockwise
    }
}

/// Whether `(x, y)` is inside a single closed ring under the module's
/// boundary rule.
pub(crate) fn ring_contains(ring: &[Coord<f64>], x: f64, y: f64) -> bool {
    let mut inside = false;
    for (a, b) in ring_segments(ring) {
        if a.y == b.y {
            continue;
        }
        let e = canonical(a, b);
        if e.crosses(x, y) {
            inside = !inside;
        }
    }
    inside
}

/// Consecutive point pairs of a ring, including the closing pair if the ring
/// is not explicitly closed.
fn ring_segments(ring: &[Coord<f64>]) -> impl Iterator<Item = (Coord<f64>, Coord<f64>)> + '_ {
    let closing = match (ring.first(), ring.last()) {
        (Some(f), Some(l)) if f != l && ring.len() > 1 => Some((*l, *f)),
        _ => None,
    };
    ring.windows(2).map(|w| (w[0], w[1])).chain(closing)
}

fn canonical(a: Coord<f64>, b: Coord<f64>) -> Edge {
    if a.y < b.y {
        Edge {
            x0: a.x,
            y0: a.y,
            x1: b.x,
            y1: b.y,
        }
    } else {
        Edge {
            x0: b.x,
            y0: b.y,
            x1: a.x,
            y1: a.y,
        }
    }
}

/// The raster of buckets over the extent of all polygons.
#[derive(Debug, Clone)]
struct Grid {
    min_x: f64,
    min_y: f64,
    max_x: f64,
    max_y: f64,
    /// Bucket size.
    w: f64,
    h: f64,
    /// Buckets per unit of x / y.
    inv_w: f64,
    inv_h: f64,
    nx: usize,
    ny: usize,
}

impl Grid {
    fn empty() -> Self {
        // An inverted extent rejects every point in the range check.
        Grid {
            min_x: f64::INFINITY,
            min_y: f64::INFINITY,
            max_x: f64::NEG_INFINITY,
            max_y: f64::NEG_INFINITY,
            w: 1.0,
            h: 1.0,
            inv_w: 1.0,
            inv_h: 1.0,
            nx: 0,
            ny: 0,
        }
    }

    #[inline(always)]
    fn col(&self, x: f64) -> usize {
        // Saturating float→int cast: negatives become 0.
        (((x - self.min_x) * self.inv_w) as usize).min(self.nx - 1)
    }

    #[inline(always)]
    fn row(&self, y: f64) -> usize {
        (((y - self.min_y) * self.inv_h) as usize).min(self.ny - 1)
    }
}

/// In-memory point → polygon index over a set of polygons that tile a region
/// (see the [module docs](self) for the exact boundary rule).
///
/// Immutable once built, and `Send + Sync` when `K` is, so one index can
/// serve many threads.
#[derive(Debug, Clone)]
pub struct PolygonIndex<K> {
    keys: Vec<K>,
    grid: Grid,
    /// Per bucket: an item index, [`EMPTY`], or `MIXED + offset` into `candidates`.
    buckets: Vec<u32>,
    /// At each offset: a count `n`, then `n` triples `(item, start, len)`:
    /// the item (ascending, possibly flagged [`WHOLE`]) and its edges that
    /// can span a height within the bucket's row, `row_edges[start..start + len]`.
    candidates: Vec<u32>,
    row_edges: Vec<Edge>,
}

/// Ring geometry of one item, only needed while building.
struct ItemGeometry {
    /// Non-horizontal edges.
    edges: Vec<Edge>,
    /// Horizontal segments never count for the ray test but still decide
    /// which buckets a boundary touches.
    horizontal: Vec<(Coord<f64>, Coord<f64>)>,
    bbox: [f64; 4],
}

impl<K> PolygonIndex<K> {
    /// Builds the index. Items keep their order: on overlaps the earlier item
    /// wins. Items with a non-finite coordinate are kept (for [`len`](Self::len))
    /// but never located.
    ///
    /// # Panics
    ///
    /// If there are 2³¹ − 1 items or more, or the edge tables exceed 2³² entries.
    pub fn new(items: Vec<(K, MultiPolygon<f64>)>) -> Self {
        assert!(
            items.len() < (MIXED - 1) as usize,
            "too many polygons for PolygonIndex"
        );
        let mut keys = Vec::with_capacity(items.len());
        let mut geoms: Vec<Option<ItemGeometry>> = Vec::with_capacity(items.len());
        let mut ext = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for (key, mp) in items {
            keys.push(key);
            let finite = rings(&mp).all(|r| r.iter().all(|c| c.x.is_finite() && c.y.is_finite()));
            let mut g = ItemGeometry {
                edges: Vec::new(),
                horizontal: Vec::new(),
                bbox: [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ],
            };
            if finite {
                for ring in rings(&mp) {
                    for (a, b) in ring_segments(ring) {
                        let bb = &mut g.bbox;
                        *bb = [
                            bb[0].min(a.x),
                            bb[1].min(a.y),
                            bb[2].max(a.x),
                            bb[3].max(a.y),
                        ];
                        if a.y != b.y {
                            g.edges.push(canonical(a, b));
                        } else {
                            g.horizontal.push((a, b));
                        }
                    }
                }
                g.edges.sort_by(|p, q| p.y0.total_cmp(&q.y0));
            }
            let bb = g.bbox;
            if bb[0] <= bb[2] {
                ext = [
                    ext[0].min(bb[0]),
                    ext[1].min(bb[1]),
                    ext[2].max(bb[2]),
                    ext[3].max(bb[3]),
                ];
                geoms.push(Some(g));
            } else {
                geoms.push(None);
            }
        }
        let mut index = PolygonIndex {
            keys,
            grid: Grid::empty(),
            buckets: Vec::new(),
            candidates: Vec::new(),
            row_edges: Vec::new(),
        };
        if ext[0] <= ext[2] {
            index.build_grid(ext, &geoms);
        }
        index
    }

    fn build_grid(&mut self, ext: [f64; 4], geoms: &[Option<ItemGeometry>]) {
        let n_items = geoms.iter().filter(|g| g.is_some()).count();
        let width = ext[2] - ext[0];
        let height = ext[3] - ext[1];
        let scale = ext.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        // Keep buckets non-degenerate even for an extent of zero width.
        let width_eff = width.max(scale * 1e-9);
        let height_eff = height.max(scale * 1e-9);
        let target = (n_items * BUCKETS_PER_ITEM).clamp(1, MAX_BUCKETS) as f64;
        let nx = (target * width_eff / height_eff)
            .sqrt()
            .round()
            .clamp(1.0, target) as usize;
        let ny = (target / nx as f64).ceil().max(1.0) as usize;
        let grid = Grid {
            min_x: ext[0],
            min_y: ext[1],
            max_x: ext[2],
            max_y: ext[3],
            w: width_eff / nx as f64,
            h: height_eff / ny as f64,
            inv_w: nx as f64 / width_eff,
            inv_h: ny as f64 / height_eff,
            nx,
            ny,
        };
        // Buckets are treated as enlarged by this margin when deciding which
        // edges may matter in them, which absorbs rounding in bucket
        // arithmetic (orders of magnitude smaller).
        let margin = 1e-6 * grid.w.min(grid.h) + 1e-12 * scale;

        // (bucket, item | WHOLE?, index into `slices`) for every bucket an
        // item matters to.
        let mut pairs: Vec<(u32, u32, u32)> = Vec::new();
        // (start, len) in `row_edges` of an item's edges relevant to one row.
        let mut slices: Vec<(u32, u32)> = vec![(0, 0)];
        let mut row_edges: Vec<Edge> = Vec::new();
        let mut touched: Vec<u32> = Vec::new();
        let mut crossings: Vec<(u32, f64)> = Vec::new();
        for (item, g) in geoms.iter().enumerate() {
            let Some(g) = g else { continue };
            let item_u32 = item as u32;
            touched.clear();
            for e in &g.edges {
                mark_segment(
                    &grid,
                    margin,
                    Coord { x: e.x0, y: e.y0 },
                    Coord { x: e.x1, y: e.y1 },
                    &mut touched,
                );
            }
            for &(a, b) in &g.horizontal {
                mark_segment(&grid, margin, a, b, &mut touched);
            }
            touched.sort_unstable();
            touched.dedup();

            let bb = g.bbox;
            let (c0, c1) = (grid.col(bb[0]), grid.col(bb[2]));
            let (r0, r1) = (grid.row(bb[1]), grid.row(bb[3]));
            // Buckets of the bounding box not touched by any edge are wholly
            // inside or wholly outside; decide by their centres, row by row.
            crossings.clear();
            for e in &g.edges {
                // Rows whose centre line may lie in [y0, y1); checked exactly below.
                let lo = grid.row(e.y0).saturating_sub(1).max(r0);
                let hi = (grid.row(e.y1) + 1).min(r1);
                for r in lo..=hi {
                    let cy = grid.min_y + (r as f64 + 0.5) * grid.h;
                    if e.y0 <= cy && cy < e.y1 {
                        let x = e.x0 + (cy - e.y0) * (e.x1 - e.x0) / (e.y1 - e.y0);
                        crossings.push((r as u32, x));
                    }
                }
            }
            crossings.sort_unstable_by(|p, q| p.0.cmp(&q.0).then(p.1.total_cmp(&q.1)));
            let mut t = 0;
            for r in r0..=r1 {
                let lo = crossings.partition_point(|p| (p.0 as usize) < r);
                let hi = crossings.partition_point(|p| (p.0 as usize) <= r);
                let xs = &crossings[lo..hi];
                let mut slice = None;
                for c in c0..=c1 {
                    let id = (r * grid.nx + c) as u32;
                    while t < touched.len() && touched[t] < id {
                        t += 1;
                    }
                    if t < touched.len() && touched[t] == id {
                        // The row's edges are copied once and shared by its buckets.
                        let s = *slice.get_or_insert_with(|| {
                            let row_lo = grid.min_y + r as f64 * grid.h - margin;
                            let row_hi = grid.min_y + (r + 1) as f64 * grid.h + margin;
                            let start = row_edges.len();
                            row_edges
                                .extend(g.edges.iter().filter(|e| e.y0 <= row_hi && e.y1 > row_lo));
                            slices.push((table_index(start), table_index(row_edges.len() - start)));
                            table_index(slices.len() - 1)
                        });
                        pairs.push((id, item_u32, s));
                        continue;
                    }
                    let cx = grid.min_x + (c as f64 + 0.5) * grid.w;
                    let right = xs.len() - xs.partition_point(|p| p.1 <= cx);
                    if right % 2 == 1 {
                        pairs.push((id, item_u32 | WHOLE, 0));
                    }
                }
            }
        }
        // Sort by bucket, then by item so earlier items win on overlaps.
        pairs.sort_unstable_by_key(|&(c, i, _)| (c, i & !WHOLE));

        let mut buckets = vec![EMPTY; grid.nx * grid.ny];
        let mut candidates = Vec::new();
        let mut k = 0;
        while k < pairs.len() {
            let cell = pairs[k].0;
            let end = k + pairs[k..].iter().take_while(|p| p.0 == cell).count();
            let group = &pairs[k..end];
            if group.iter().all(|p| p.1 & WHOLE != 0) {
                buckets[cell as usize] = group[0].1 & !WHOLE;
            } else {
                let offset = candidates.len();
                // The first wholly-covering item ends the search, so later
                // candidates would never be reached.
                let stop = group
                    .iter()
                    .position(|p| p.1 & WHOLE != 0)
                    .map_or(group.len(), |p| p + 1);
                candidates.push(stop as u32);
                for &(_, item, s) in &group[..stop] {
                    let (start, len) = slices[s as usize];
                    candidates.extend([item, start, len]);
                }
                buckets[cell as usize] = MIXED + offset as u32;
            }
            k = end;
        }
        assert!(
            candidates.len() < (EMPTY - MIXED) as usize,
            "PolygonIndex candidate table too large"
        );
        self.grid = grid;
        self.buckets = buckets;
        self.candidates = candidates;
        self.row_edges = row_edges;
    }

    /// Position (in the `items` given to [`new`](Self::new)) of the polygon
    /// containing `(lon, lat)`.
    #[inline]
    pub fn locate_index(&self, lon: f64, lat: f64) -> Option<usize> {
        let g = &self.grid;
        // Written so that NaN fails the check.
        if !(lon >= g.min_x && lon <= g.max_x && lat >= g.min_y && lat <= g.max_y) {
            return None;
        }
        let bucket = self.buckets[g.row(lat) * g.nx + g.col(lon)];
        if bucket < MIXED {
            return Some(bucket as usize);
        }
        if bucket == EMPTY {
            return None;
        }
        let offset = (bucket - MIXED) as usize;
        let count = self.candidates[offset] as usize;
        let list = &self.candidates[offset + 1..offset + 1 + 3 * count];
        for c in list.chunks_exact(3) {
            let item = c[0];
            if item & WHOLE != 0 {
                return Some((item & !WHOLE) as usize);
            }
            let edges = &self.row_edges[c[1] as usize..(c[1] + c[2]) as usize];
            let mut inside = false;
            for e in edges {
                if e.y0 > lat {
                    break;
                }
                inside ^= e.crosses(lon, lat);
            }
            if inside {
                return Some(item as usize);
            }
        }
        None
    }

    /// Key of the polygon containing `(lon, lat)`, or `None` if no polygon
    /// contains it (or the input is NaN or infinite).
    #[inline]
    pub fn locate(&self, lon: f64, lat: f64) -> Option<&K> {
        self.locate_index(lon, lat).map(|i| &self.keys[i])
    }

    /// Keys in the order given to [`new`](Self::new).
    pub fn keys(&self) -> &[K] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn table_index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or_else(|_| panic!("PolygonIndex edge table too large"))
}

fn rings(mp: &MultiPolygon<f64>) -> impl Iterator<Item = &[Coord<f64>]> {
    mp.0.iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .map(|r| r.0.as_slice())
}

/// Adds to `out` every bucket that the segment `a`–`b`, thickened by
/// `margin`, may touch. Steps along the segment's major axis so that the
/// interpolated minor coordinate stays accurate even for near-axis-parallel
/// segments.
fn mark_segment(g: &Grid, margin: f64, a: Coord<f64>, b: Coord<f64>, out: &mut Vec<u32>) {
    let (dx, dy) = ((b.x - a.x).abs(), (b.y - a.y).abs());
    if dx >= dy {
        let (p, q) = if a.x <= b.x { (a, b) } else { (b, a) };
        let (c0, c1) = (g.col(p.x - margin), g.col(q.x + margin));
        for c in c0..=c1 {
            let xl = (g.min_x + c as f64 * g.w - margin).max(p.x);
            let xr = (g.min_x + (c + 1) as f64 * g.w + margin).min(q.x);
            let (ya, yb) = if q.x > p.x {
                let s = (q.y - p.y) / (q.x - p.x);
                (p.y + (xl - p.x) * s, p.y + (xr - p.x) * s)
            } else {
                (p.y, q.y)
            };
            let (r0, r1) = (g.row(ya.min(yb) - margin), g.row(ya.max(yb) + margin));
            out.extend((r0..=r1).map(|r| (r * g.nx + c) as u32));
        }
    } else {
        let (p, q) = if a.y <= b.y { (a, b) } else { (b, a) };
        let (r0, r1) = (g.row(p.y - margin), g.row(q.y + margin));
        for r in r0..=r1 {
            let yl = (g.min_y + r as f64 * g.h - margin).max(p.y);
            let yr = (g.min_y + (r + 1) as f64 * g.h + margin).min(q.y);
            let s = (q.x - p.x) / (q.y - p.y);
            let (xa, xb) = (p.x + (yl - p.y) * s, p.x + (yr - p.y) * s);
            let (c0, c1) = (g.col(xa.min(xb) - margin), g.col(xa.max(xb) + margin));
            out.extend((c0..=c1).map(|c| (r * g.nx + c) as u32));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::testutil::{Lattice, Rng, mp, rect};
    use geo::Polygon;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    /// Every polygon claiming the point, by the rule alone (no raster).
    fn claimants(polys: &[MultiPolygon<f64>], x: f64, y: f64) -> Vec<usize> {
        polys
            .iter()
            .enumerate()
            .filter(|(_, mp)| {
                let mut inside = false;
                for r in rings(mp) {
                    inside ^= ring_contains(r, x, y);
                }
                inside
            })
            .map(|(i, _)| i)
            .collect()
    }

    type CoordBits = (u64, u64);

    fn key(c: Coord<f64>) -> CoordBits {
        (c.x.to_bits(), c.y.to_bits())
    }

    /// Probe points exactly on, or within rounding of, the edges and vertices
    /// shared by two or more polygons of a tiling.
    fn shared_boundary_probes(polys: &[MultiPolygon<f64>]) -> Vec<(f64, f64)> {
        let mut edge_count: HashMap<(CoordBits, CoordBits), usize> = HashMap::new();
        let mut segs = Vec::new();
        for p in polys {
            for r in rings(p) {
                for w in r.windows(2) {
                    let (a, b) = (key(w[0]), key(w[1]));
                    *edge_count.entry((a.min(b), a.max(b))).or_default() += 1;
                    segs.push((w[0], w[1]));
                }
            }
        }
        let is_shared = |a: Coord<f64>, b: Coord<f64>| {
            let (a, b) = (key(a), key(b));
            edge_count.get(&(a.min(b), a.max(b))).copied().unwrap_or(0) >= 2
        };
        let outer_vertices: HashSet<(u64, u64)> = segs
            .iter()
            .filter(|(a, b)| !is_shared(*a, *b))
            .flat_map(|(a, b)| [key(*a), key(*b)])
            .collect();
        let mut shared: Vec<(Coord<f64>, Coord<f64>)> = segs
            .into_iter()
            .filter(|(a, b)| is_shared(*a, *b))
            .collect();
        shared.sort_by_key(|(a, b)| (key(*a), key(*b)));
        shared.dedup_by_key(|(a, b)| (key(*a), key(*b)));
        let ys: Vec<f64> = {
            let mut v: Vec<f64> = shared.iter().flat_map(|(a, b)| [a.y, b.y]).collect();
            v.sort_by(f64::total_cmp);
            v.dedup();
            v
        };
        let mut probes = Vec::new();
        for &(a, b) in &shared {
            for c in [a, b] {
                if !outer_vertices.contains(&key(c)) {
                    probes.push((c.x, c.y));
                }
            }
            for t in [0.5, 1.0 / 3.0, 0.9, 1e-9] {
                probes.push((a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)));
            }
            // Points at the height of every vertex the edge spans, with x
            // computed on the edge either way round.
            let (lo, hi) = (a.y.min(b.y), a.y.max(b.y));
            let from = ys.partition_point(|&y| y <= lo);
            for &y in ys[from..].iter().take_while(|&&y| y < hi) {
                let xa = a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y);
                let xb = b.x + (y - b.y) * (a.x - b.x) / (a.y - b.y);
                probes.push((xa, y));
                probes.push((xb, y));
            }
        }
        probes
    }

    fn assert_tiling_rule(polys: &[MultiPolygon<f64>]) {
        let index = PolygonIndex::new(polys.iter().cloned().enumerate().collect());
        for (x, y) in shared_boundary_probes(polys) {
            let owners = claimants(polys, x, y);
            assert_eq!(owners.len(), 1, "({x:?}, {y:?}) claimed by {owners:?}");
            assert_eq!(index.locate(x, y), Some(&owners[0]), "({x:?}, {y:?})");
        }
    }

    fn assert_matches_brute_force(polys: &[MultiPolygon<f64>], seed: u64, n: usize) {
        let index = PolygonIndex::new(polys.iter().cloned().enumerate().collect());
        let g = &index.grid;
        let mut rng = Rng::new(seed);
        let (w, h) = (g.max_x - g.min_x, g.max_y - g.min_y);
        for _ in 0..n {
            // Cover a little beyond the extent too.
            let x = g.min_x - 0.05 * w + 1.1 * w * rng.f64();
            let y = g.min_y - 0.05 * h + 1.1 * h * rng.f64();
            let owners = claimants(polys, x, y);
            assert_eq!(
                index.locate_index(x, y),
                owners.first().copied(),
                "({x}, {y})"
            );
        }
    }

    #[test]
    fn square_grid_boundary_rule() {
        // Exact binary coordinates, so probes lie exactly on edges.
        let mut polys = Vec::new();
        for j in 0..4 {
            for i in 0..4 {
                let (x, y) = (100.0 + i as f64 * 0.5, 30.0 + j as f64 * 0.5);
                polys.push(mp(rect(x, y, x + 0.5, y + 0.5)));
            }
        }
        let index = PolygonIndex::new(polys.iter().cloned().enumerate().collect());
        let cell = |i: usize, j: usize| Some(j * 4 + i);
        // Shared vertical edge → east cell; shared horizontal edge → north cell.
        assert_eq!(index.locate_index(100.5, 30.25), cell(1, 0));
        assert_eq!(index.locate_index(100.25, 30.5), cell(0, 1));
        // Shared corner of four cells → north-east cell.
        assert_eq!(index.locate_index(100.5, 30.5), cell(1, 1));
        // Outer boundary: west and south inside, east and north outside.
        assert_eq!(index.locate_index(100.0, 30.75), cell(0, 1));
        assert_eq!(index.locate_index(100.75, 30.0), cell(1, 0));
        assert_eq!(index.locate_index(100.0, 30.0), cell(0, 0));
        assert_eq!(index.locate_index(102.0, 30.75), None);
        assert_eq!(index.locate_index(100.75, 32.0), None);
        assert_eq!(index.locate_index(102.0, 30.0), None);
        // Every quarter-step point, on edges or not, has exactly one owner
        // inside the half-open extent.
        for a in 0..=16 {
            for b in 0..=16 {
                let (x, y) = (100.0 + a as f64 * 0.125, 30.0 + b as f64 * 0.125);
                let owners = claimants(&polys, x, y);
                let expected = usize::from(a < 16 && b < 16);
                assert_eq!(owners.len(), expected, "({x}, {y})");
                assert_eq!(index.locate_index(x, y), owners.first().copied());
            }
        }
    }

    #[test]
    fn triangulated_grid_with_exact_diagonals() {
        // Each unit square split along its diagonal; quarter points lie
        // exactly on diagonals, horizontal and vertical edges.
        let mut polys = Vec::new();
        for j in 0..5 {
            for i in 0..5 {
                let (x, y) = (i as f64, j as f64);
                let c = |dx: f64, dy: f64| Coord {
                    x: x + dx,
                    y: y + dy,
                };
                let (lower, upper) = if (i + j) % 2 == 0 {
                    (
                        vec![c(0., 0.), c(1., 0.), c(1., 1.), c(0., 0.)],
                        vec![c(0., 0.), c(1., 1.), c(0., 1.), c(0., 0.)],
                    )
                } else {
                    (
                        vec![c(0., 0.), c(1., 0.), c(0., 1.), c(0., 0.)],
                        vec![c(1., 0.), c(1., 1.), c(0., 1.), c(1., 0.)],
                    )
                };
                polys.push(mp(Polygon::new(LineString(lower), vec![])));
                polys.push(mp(Polygon::new(LineString(upper), vec![])));
            }
        }
        let index = PolygonIndex::new(polys.iter().cloned().enumerate().collect());
        for a in 0..=20 {
            for b in 0..=20 {
                let (x, y) = (a as f64 * 0.25, b as f64 * 0.25);
                let owners = claimants(&polys, x, y);
                assert_eq!(
                    owners.len(),
                    usize::from(a < 20 && b < 20),
                    "({x}, {y}) {owners:?}"
                );
                assert_eq!(index.locate_index(x, y), owners.first().copied());
            }
        }
        // On the diagonal from (0,0) to (1,1): the polygon east of it is the lower triangle.
        assert_eq!(index.locate_index(0.5, 0.5), Some(0));
        assert_tiling_rule(&polys);
    }

    use geo::LineString;

    #[test]
    fn jittered_lattice_boundary_rule() {
        for seed in 0..4 {
            let lat = Lattice::new(7, 6, (116.3, 39.9), 0.003, 0.25, 2, seed);
            let polys = lat.cells();
            assert_tiling_rule(&polys);
            assert_matches_brute_force(&polys, seed, 5000);
        }
    }

    #[test]
    fn holes_and_islands() {
        let mut outer = rect(0.0, 0.0, 10.0, 10.0);
        outer.interiors_push(rect(3.0, 3.0, 7.0, 7.0).exterior().clone());
        let island = rect(3.0, 3.0, 7.0, 7.0);
        let with_island = vec![mp(outer.clone()), mp(island)];
        let index = PolygonIndex::new(with_island.iter().cloned().enumerate().collect());
        assert_eq!(index.locate_index(5.0, 5.0), Some(1));
        assert_eq!(index.locate_index(1.0, 5.0), Some(0));
        // West side of the hole: the island is east of that edge.
        assert_eq!(index.locate_index(3.0, 5.0), Some(1));
        // East side of the hole: the outer polygon is east of that edge.
        assert_eq!(index.locate_index(7.0, 5.0), Some(0));
        assert_eq!(index.locate_index(5.0, 7.0), Some(0));
        assert_eq!(index.locate_index(5.0, 3.0), Some(1));
        assert_tiling_rule(&with_island);

        let alone = PolygonIndex::new(vec![("outer", mp(outer))]);
        assert_eq!(alone.locate(5.0, 5.0), None);
        assert_eq!(alone.locate(6.9, 3.1), None);
        assert_eq!(alone.locate(1.0, 1.0), Some(&"outer"));
        // On the hole's east edge, the polygon is east of it.
        assert_eq!(alone.locate(7.0, 5.0), Some(&"outer"));
        assert_eq!(alone.locate(3.0, 5.0), None);
    }

    #[test]
    fn outside_and_non_finite() {
        let index = PolygonIndex::new(vec![("a", mp(rect(0.0, 0.0, 1.0, 1.0)))]);
        assert_eq!(index.len(), 1);
        assert!(!index.is_empty());
        assert_eq!(index.locate(0.5, 0.5), Some(&"a"));
        assert_eq!(index.locate(2.0, 0.5), None);
        assert_eq!(index.locate(-0.5, 0.5), None);
        assert_eq!(index.locate(f64::NAN, 0.5), None);
        assert_eq!(index.locate(0.5, f64::NAN), None);
        assert_eq!(index.locate(f64::INFINITY, 0.5), None);
        assert_eq!(index.locate(0.5, f64::NEG_INFINITY), None);

        let empty: PolygonIndex<u32> = PolygonIndex::new(Vec::new());
        assert!(empty.is_empty());
        assert_eq!(empty.locate(0.0, 0.0), None);

        let bad = PolygonIndex::new(vec![
            (1, mp(rect(0.0, 0.0, f64::NAN, 1.0))),
            (2, mp(rect(2.0, 0.0, 3.0, 1.0))),
        ]);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad.locate(2.5, 0.5), Some(&2));
        assert_eq!(bad.locate(0.5, 0.5), None);
    }

    #[test]
    fn overlaps_go_to_the_first_item() {
        let items = vec![
            ("big", mp(rect(0.0, 0.0, 10.0, 10.0))),
            ("small", mp(rect(2.0, 2.0, 3.0, 3.0))),
        ];
        let index = PolygonIndex::new(items);
        assert_eq!(index.locate(2.5, 2.5), Some(&"big"));
        let items = vec![
            ("small", mp(rect(2.0, 2.0, 3.0, 3.0))),
            ("big", mp(rect(0.0, 0.0, 10.0, 10.0))),
        ];
        let index = PolygonIndex::new(items);
        assert_eq!(index.locate(2.5, 2.5), Some(&"small"));
        assert_eq!(index.locate(5.0, 5.0), Some(&"big"));
    }

    #[test]
    fn one_huge_polygon_and_degenerate_extents() {
        // A single many-vertex polygon: most buckets resolve without a ring test.
        let n = 2000;
        let ring: Vec<Coord<f64>> = (0..=n)
            .map(|k| {
                let t = (k % n) as f64 / n as f64 * std::f64::consts::TAU;
                let r = 1.0 + 0.1 * (7.0 * t).sin();
                Coord {
                    x: r * t.cos(),
                    y: r * t.sin(),
                }
            })
            .collect();
        let polys = vec![mp(Polygon::new(LineString(ring), vec![]))];
        assert_matches_brute_force(&polys, 9, 20_000);
        // Zero-area items do not break the raster.
        let flat = vec![mp(Polygon::new(
            LineString(vec![
                Coord { x: 0.0, y: 0.0 },
                Coord { x: 1.0, y: 0.0 },
                Coord { x: 0.0, y: 0.0 },
            ]),
            vec![],
        ))];
        let index = PolygonIndex::new(flat.into_iter().enumerate().collect());
        assert_eq!(index.locate_index(0.5, 0.0), None);
    }

    #[test]
    fn index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PolygonIndex<String>>();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn random_lattices_have_one_owner_per_shared_boundary_point(
            seed in any::<u64>(),
            nx in 2usize..7,
            ny in 2usize..7,
            k in 0usize..4,
            jitter in 0.0f64..0.25,
            step_exp in -12i32..4,
        ) {
            let step = 2f64.powi(step_exp) * 1.37;
            let lat = Lattice::new(nx, ny, (73.0 + seed as f64 % 50.0, 20.0), step, jitter, k, seed);
            let polys = lat.cells();
            assert_tiling_rule(&polys);
            assert_matches_brute_force(&polys, seed ^ 0xABCD, 300);
        }

        #[test]
        fn nested_blocks_tile_like_cells(seed in any::<u64>(), k in 0usize..3) {
            // Blocks of different sizes mixed in one tiling: long edges meet
            // vertices of small cells (T-junctions are shared exactly).
            let lat = Lattice::new(6, 6, (116.0, 39.0), 0.01, 0.2, k, seed);
            let mut polys = vec![mp(lat.block(0, 0, 3, 3)), mp(lat.block(3, 0, 6, 2))];
            for j in 3..6 { for i in 0..3 { polys.push(mp(lat.cell(i, j))); } }
            for j in 2..6 { for i in 3..6 { polys.push(mp(lat.cell(i, j))); } }
            assert_tiling_rule(&polys);
            assert_matches_brute_force(&polys, seed, 300);
        }
    }

    /// `cargo test -p wangge-geo --release -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_locate_18000_cells() {
        let (nx, ny) = (150, 120);
        let lat = Lattice::new(nx, ny, (116.0, 39.7), 0.004, 0.25, 2, 42);
        let items: Vec<(usize, MultiPolygon<f64>)> = lat.cells().into_iter().enumerate().collect();
        let t0 = std::time::Instant::now();
        let index = PolygonIndex::new(items);
        let build = t0.elapsed();
        let mut rng = Rng::new(7);
        let n = 10_000_000;
        let pts: Vec<(f64, f64)> = (0..n)
            .map(|_| {
                (
                    116.0 + rng.f64() * 0.004 * nx as f64,
                    39.7 + rng.f64() * 0.004 * ny as f64,
                )
            })
            .collect();
        // Best of several passes: the machine is shared.
        let mut best = f64::INFINITY;
        let (mut found, mut checksum) = (0usize, 0usize);
        // CPU time of this thread (ns), less disturbed by other processes than wall time.
        let cpu_ns = || -> f64 {
            std::fs::read_to_string("/proc/thread-self/schedstat")
                .ok()
                .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
                .unwrap_or(f64::NAN)
        };
        let mut best_cpu = f64::INFINITY;
        for _ in 0..5 {
            let c1 = cpu_ns();
            let t1 = std::time::Instant::now();
            found = 0;
            checksum = 0;
            for &(x, y) in &pts {
                if let Some(k) = index.locate(x, y) {
                    found += 1;
                    checksum = checksum.wrapping_add(*k);
                }
            }
            best = best.min(t1.elapsed().as_nanos() as f64 / n as f64);
            best_cpu = best_cpu.min((cpu_ns() - c1) / n as f64);
        }
        let uniform = index
            .buckets
            .iter()
            .filter(|&&b| b < MIXED || b == EMPTY)
            .count();
        let mixed = index.buckets.len() - uniform;
        let triples = (index.candidates.len() - mixed) / 3;
        println!(
            "locate: {} cells of 12 vertices, build {:?}, {} buckets ({:.0}% resolved at build, {:.2} candidates per other bucket), \
             {} row edges, {:.1} ns/point wall, {:.1} ns/point CPU (best of 5), found {found}/{n} (checksum {checksum})",
            nx * ny,
            build,
            index.buckets.len(),
            100.0 * uniform as f64 / index.buckets.len() as f64,
            triples as f64 / mixed as f64,
            index.row_edges.len(),
            best,
            best_cpu
        );
        assert!(found > n * 9 / 10);
    }
}
