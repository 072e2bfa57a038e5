//! Geometry and hierarchy checks for grid layers.
//!
//! [`validate_geometry`] checks one feature on its own (closed rings, no
//! self-intersection, holes inside their shell, non-zero area, sane lon/lat).
//! [`validate_tree`] checks how features of a hierarchy fit together
//! (children inside their parent, siblings not overlapping, parents covered
//! by their children). Both report every problem they find; neither stops at
//! the first.
//!
//! Areas are in square metres, computed on the sphere with the
//! Chamberlain–Duquette formula (WGS-84 equatorial radius). Across China
//! this is within 0.6 % of the ellipsoidal (geodesic) area: ample for
//! tolerances, and far cheaper for tens of thousands of polygons.

use std::collections::HashMap;
use std::fmt;

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::line_intersection::line_intersection;
use geo::orient::Direction;
use geo::{
    BooleanOps, BoundingRect, ChamberlainDuquetteArea, Coord, InteriorPoint, Line,
    LineIntersection, MultiPolygon, Orient, Polygon, Rect, unary_union,
};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::io::RingRef;

/// A feature of a hierarchy, as given to [`validate_tree`].
#[derive(Debug, Clone, Copy)]
pub struct LayerFeature<'a> {
    /// Caller's identifier for the feature (e.g. position in the import file).
    pub index: usize,
    pub code: &'a str,
    /// Code of the parent feature, if it has one.
    pub parent_code: Option<&'a str>,
    pub geometry: &'a MultiPolygon<f64>,
}

/// Category of a [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// Any geometry defect without a more specific kind (empty, too few
    /// corners, non-finite or out-of-range coordinates, zero area, crossing
    /// holes, overlapping parts of a multipolygon...).
    InvalidGeometry,
    SelfIntersection,
    RingNotClosed,
    HoleOutsideShell,
    OutsideParent,
    Overlap,
    Gap,
}

impl ProblemKind {
    /// Stable snake_case name, for APIs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::InvalidGeometry => "invalid_geometry",
            ProblemKind::SelfIntersection => "self_intersection",
            ProblemKind::RingNotClosed => "ring_not_closed",
            ProblemKind::HoleOutsideShell => "hole_outside_shell",
            ProblemKind::OutsideParent => "outside_parent",
            ProblemKind::Overlap => "overlap",
            ProblemKind::Gap => "gap",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found by validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Index of the feature at fault (for overlaps, the first of the pair;
    /// for gaps, the parent).
    pub index: Option<usize>,
    pub code: Option<String>,
    pub kind: ProblemKind,
    /// Human-readable explanation (English), naming the other feature for
    /// overlaps and giving areas in m².
    pub message: String,
    /// `(lon, lat)` of a point representative of the problem.
    pub location: Option<(f64, f64)>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, self.index) {
            (Some(c), _) => write!(f, "{c}: ")?,
            (None, Some(i)) => write!(f, "feature {i}: ")?,
            (None, None) => {}
        }
        write!(f, "{} ({})", self.message, self.kind)
    }
}

/// Largest number of self-intersections reported for one ring; past it a
/// ring is garbage and more points do not help the operator.
const MAX_POINTS_PER_RING: usize = 10;
/// Rings or polygons with at most this many segments are checked pairwise
/// directly; larger ones through an R-tree.
const BRUTE_FORCE_SEGMENTS: usize = 64;
/// Below this area (m²) a polygon counts as having no area.
const ZERO_AREA_M2: f64 = 0.01;
/// Overlay result pieces below this area (m²), or thinner on average than
/// [`SLIVER_WIDTH_M`], are rounding noise of the overlay engine, not real
/// overlaps or gaps, whatever the tolerance.
const NOISE_M2: f64 = 0.01;
const SLIVER_WIDTH_M: f64 = 0.001;

struct Reporter<'a> {
    index: Option<usize>,
    code: Option<&'a str>,
    out: Vec<Problem>,
}

impl Reporter<'_> {
    fn push(&mut self, kind: ProblemKind, message: String, at: Option<Coord<f64>>) {
        self.out.push(Problem {
            index: self.index,
            code: self.code.map(str::to_owned),
            kind,
            message,
            location: at.map(|c| (c.x, c.y)),
        });
    }
}

/// Checks one feature's geometry: non-empty, finite lon/lat coordinates,
/// closed rings with at least 3 distinct corners, no self-intersecting ring,
/// holes inside their shell and not crossing or nesting, parts of a
/// multipolygon not overlapping, and non-zero area. Every defect found is
/// reported.
pub fn validate_geometry(
    index: Option<usize>,
    code: Option<&str>,
    geometry: &MultiPolygon<f64>,
) -> Vec<Problem> {
    let mut rep = Reporter {
        index,
        code,
        out: Vec::new(),
    };
    if geometry.0.is_empty() {
        rep.push(
            ProblemKind::InvalidGeometry,
            "the geometry is empty".into(),
            None,
        );
        return rep.out;
    }
    // Polygons whose rings are usable for topology checks, as deduplicated,
    // explicitly closed rings.
    let mut usable: Vec<(usize, Vec<Vec<Coord<f64>>>)> = Vec::new();
    for (pi, polygon) in geometry.0.iter().enumerate() {
        let mut rings = Vec::new();
        let mut ok = true;
        for (ri, ring) in std::iter::once(polygon.exterior())
            .chain(polygon.interiors())
            .enumerate()
        {
            let rr = RingRef {
                polygon: pi,
                ring: ri,
            };
            match check_ring_basics(&mut rep, rr, &ring.0) {
                Some(r) => rings.push(r),
                None => ok = false,
            }
        }
        if ok {
            usable.push((pi, rings));
        }
    }
    let crossed_shells = check_topology(&mut rep, &usable);
    for (part, (pi, rings)) in usable.iter().enumerate() {
        if crossed_shells.contains(&part) {
            // A self-intersecting shell's signed area is meaningless.
            continue;
        }
        let shell = Polygon::new(geo::LineString(rings[0].clone()), vec![]);
        let area = shell.chamberlain_duquette_unsigned_area();
        if area < ZERO_AREA_M2 {
            rep.push(
                ProblemKind::InvalidGeometry,
                format!("polygon {} has no area ({area:.4} m²)", pi + 1),
                Some(rings[0][0]),
            );
        }
    }
    rep.out
}

/// Checks what can be checked on a ring alone; returns it without
/// consecutive duplicate points and explicitly closed, or `None` if it is
/// unusable for topology checks.
fn check_ring_basics(
    rep: &mut Reporter<'_>,
    rr: RingRef,
    coords: &[Coord<f64>],
) -> Option<Vec<Coord<f64>>> {
    if coords.is_empty() {
        rep.push(ProblemKind::InvalidGeometry, format!("{rr} is empty"), None);
        return None;
    }
    if let Some(k) = coords
        .iter()
        .position(|c| !c.x.is_finite() || !c.y.is_finite())
    {
        rep.push(
            ProblemKind::InvalidGeometry,
            format!("{rr} has a non-finite coordinate at position {k}"),
            coords
                .iter()
                .find(|c| c.x.is_finite() && c.y.is_finite())
                .copied(),
        );
        return None;
    }
    if let Some(c) = coords
        .iter()
        .find(|c| !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y))
    {
        rep.push(
            ProblemKind::InvalidGeometry,
            format!("{rr} has a coordinate outside longitude [-180, 180] / latitude [-90, 90]: ({}, {})", c.x, c.y),
            None,
        );
        return None;
    }
    let first = coords[0];
    if coords.len() > 1 && coords[coords.len() - 1] != first {
        rep.push(
            ProblemKind::RingNotClosed,
            format!("{rr} is not closed: its first and last positions differ"),
            Some(first),
        );
    }
    let mut ring: Vec<Coord<f64>> = Vec::with_capacity(coords.len() + 1);
    for &c in coords {
        if ring.last() != Some(&c) {
            ring.push(c);
        }
    }
    if ring.len() > 1 && ring[ring.len() - 1] == first {
        ring.pop();
    }
    if ring.len() < 3 {
        rep.push(
            ProblemKind::InvalidGeometry,
            format!(
                "{rr} has {} distinct corners; a ring needs at least 3",
                ring.len()
            ),
            Some(first),
        );
        return None;
    }
    ring.push(first);
    Some(ring)
}

#[derive(Clone, Copy)]
struct Seg {
    part: usize,
    ring: usize,
    /// Segment number within the ring.
    k: usize,
    a: Coord<f64>,
    b: Coord<f64>,
}

fn seg_rect(s: &Seg) -> Rectangle<[f64; 2]> {
    Rectangle::from_corners(
        [s.a.x.min(s.b.x), s.a.y.min(s.b.y)],
        [s.a.x.max(s.b.x), s.a.y.max(s.b.y)],
    )
}

/// Calls `f` for every pair of segments whose bounding boxes intersect.
fn for_each_candidate_pair(segs: &[Seg], mut f: impl FnMut(&Seg, &Seg)) {
    if segs.len() <= BRUTE_FORCE_SEGMENTS {
        for i in 0..segs.len() {
            for j in i + 1..segs.len() {
                f(&segs[i], &segs[j]);
            }
        }
        return;
    }
    let tree = RTree::bulk_load(
        segs.iter()
            .enumerate()
            .map(|(i, s)| GeomWithData::new(seg_rect(s), i))
            .collect::<Vec<_>>(),
    );
    for (i, s) in segs.iter().enumerate() {
        let r = seg_rect(s);
        let env = AABB::from_corners(r.lower(), r.upper());
        for other in tree.locate_in_envelope_intersecting(&env) {
            if other.data > i {
                f(s, &segs[other.data]);
            }
        }
    }
}

/// Position of a point relative to a ring or polygon, boundary included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Inside,
    Outside,
    Boundary,
}

fn on_segment(a: Coord<f64>, b: Coord<f64>, p: Coord<f64>) -> bool {
    p.x >= a.x.min(b.x)
        && p.x <= a.x.max(b.x)
        && p.y >= a.y.min(b.y)
        && p.y <= a.y.max(b.y)
        && RobustKernel::orient2d(a, b, p) == Orientation::Collinear
}

fn ring_position(ring: &[Coord<f64>], p: Coord<f64>) -> Pos {
    if ring.windows(2).any(|w| on_segment(w[0], w[1], p)) {
        return Pos::Boundary;
    }
    if crate::index::ring_contains(ring, p.x, p.y) {
        Pos::Inside
    } else {
        Pos::Outside
    }
}

fn polygon_position(rings: &[Vec<Coord<f64>>], p: Coord<f64>) -> Pos {
    match ring_position(&rings[0], p) {
        Pos::Inside => {}
        other => return other,
    }
    for hole in &rings[1..] {
        match ring_position(hole, p) {
            Pos::Outside => {}
            Pos::Inside => return Pos::Outside,
            Pos::Boundary => return Pos::Boundary,
        }
    }
    Pos::Inside
}

fn bbox(ring: &[Coord<f64>]) -> Rect<f64> {
    let (mut lo, mut hi) = (ring[0], ring[0]);
    for c in ring {
        lo = Coord {
            x: lo.x.min(c.x),
            y: lo.y.min(c.y),
        };
        hi = Coord {
            x: hi.x.max(c.x),
            y: hi.y.max(c.y),
        };
    }
    Rect::new(lo, hi)
}

fn rects_intersect(a: &Rect<f64>, b: &Rect<f64>) -> bool {
    a.min().x <= b.max().x
        && b.min().x <= a.max().x
        && a.min().y <= b.max().y
        && b.min().y <= a.max().y
}

/// Returns the parts (positions in `polys`) whose outer ring intersects itself.
fn check_topology(rep: &mut Reporter<'_>, polys: &[(usize, Vec<Vec<Coord<f64>>>)]) -> Vec<usize> {
    let mut segs = Vec::new();
    for (part, (_, rings)) in polys.iter().enumerate() {
        for (ri, ring) in rings.iter().enumerate() {
            for (k, w) in ring.windows(2).enumerate() {
                segs.push(Seg {
                    part,
                    ring: ri,
                    k,
                    a: w[0],
                    b: w[1],
                });
            }
        }
    }
    // Findings, keyed so each ring / ring pair / part pair is reported once
    // (self-intersections: a few points per ring).
    let mut self_x: HashMap<(usize, usize), Vec<Coord<f64>>> = HashMap::new();
    let mut ring_x: HashMap<(usize, usize, usize), Coord<f64>> = HashMap::new();
    let mut part_x: HashMap<(usize, usize), Coord<f64>> = HashMap::new();
    for_each_candidate_pair(&segs, |s, t| {
        let n = polys[s.part].1[s.ring].len() - 1;
        if s.part == t.part && s.ring == t.ring {
            let (i, j) = (s.k.min(t.k), s.k.max(t.k));
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            let hit = if adjacent {
                spike_point(s, t)
            } else {
                line_intersection(Line::new(s.a, s.b), Line::new(t.a, t.b)).map(|x| match x {
                    LineIntersection::SinglePoint { intersection, .. } => intersection,
                    LineIntersection::Collinear { intersection } => intersection.start,
                })
            };
            if let Some(p) = hit {
                let v = self_x.entry((s.part, s.ring)).or_default();
                if !v.contains(&p) {
                    v.push(p);
                }
            }
        } else if let Some(x) = line_intersection(Line::new(s.a, s.b), Line::new(t.a, t.b)) {
            let (p, crossing) = match x {
                LineIntersection::SinglePoint {
                    intersection,
                    is_proper,
                } => (intersection, is_proper),
                LineIntersection::Collinear { intersection } => {
                    (intersection.start, s.part == t.part)
                }
            };
            if !crossing {
                return;
            }
            if s.part == t.part {
                let key = (s.part, s.ring.min(t.ring), s.ring.max(t.ring));
                ring_x.entry(key).or_insert(p);
            } else {
                part_x
                    .entry((s.part.min(t.part), s.part.max(t.part)))
                    .or_insert(p);
            }
        }
    });

    let mut self_x: Vec<_> = self_x.into_iter().collect();
    self_x.sort_by_key(|(k, _)| *k);
    let crossed_shells = self_x
        .iter()
        .filter(|((_, ring), _)| *ring == 0)
        .map(|((part, _), _)| *part)
        .collect();
    for ((part, ring), points) in self_x {
        let rr = RingRef {
            polygon: polys[part].0,
            ring,
        };
        for p in points.iter().take(MAX_POINTS_PER_RING) {
            rep.push(
                ProblemKind::SelfIntersection,
                format!("{rr} intersects itself at ({:.7}, {:.7})", p.x, p.y),
                Some(*p),
            );
        }
        if points.len() > MAX_POINTS_PER_RING {
            rep.push(
                ProblemKind::SelfIntersection,
                format!(
                    "{rr} has {} more self-intersections",
                    points.len() - MAX_POINTS_PER_RING
                ),
                None,
            );
        }
    }
    let mut ring_x: Vec<_> = ring_x.into_iter().collect();
    ring_x.sort_by_key(|(k, _)| *k);
    for ((part, r1, r2), p) in &ring_x {
        let pn = polys[*part].0;
        if *r1 == 0 {
            rep.push(
                ProblemKind::HoleOutsideShell,
                format!(
                    "{} crosses the outer ring, so part of it is outside the shell",
                    RingRef {
                        polygon: pn,
                        ring: *r2
                    }
                ),
                Some(*p),
            );
        } else {
            rep.push(
                ProblemKind::InvalidGeometry,
                format!("holes {r1} and {r2} of polygon {} cross each other", pn + 1),
                Some(*p),
            );
        }
    }

    // Containment without crossing edges.
    for (part, (pn, rings)) in polys.iter().enumerate() {
        let boxes: Vec<Rect<f64>> = rings.iter().map(|r| bbox(r)).collect();
        for h in 1..rings.len() {
            if ring_x
                .iter()
                .any(|((p, r1, r2), _)| *p == part && *r1 == 0 && *r2 == h)
            {
                continue;
            }
            let outside = rings[h]
                .iter()
                .find(|c| ring_position(&rings[0], **c) == Pos::Outside);
            if let Some(c) = outside {
                rep.push(
                    ProblemKind::HoleOutsideShell,
                    format!(
                        "{} lies outside the outer ring",
                        RingRef {
                            polygon: *pn,
                            ring: h
                        }
                    ),
                    Some(*c),
                );
                continue;
            }
            for g in 1..rings.len() {
                if g == h || !rects_intersect(&boxes[g], &boxes[h]) {
                    continue;
                }
                let crossing = ring_x
                    .iter()
                    .any(|((p, r1, r2), _)| *p == part && *r1 == g.min(h) && *r2 == g.max(h));
                if crossing {
                    continue;
                }
                if let Some(c) = first_decisive(&rings[h], |c| ring_position(&rings[g], c))
                    && c.1 == Pos::Inside
                {
                    rep.push(
                        ProblemKind::InvalidGeometry,
                        format!("hole {h} of polygon {} lies inside hole {g}", pn + 1),
                        Some(c.0),
                    );
                }
            }
        }
    }
    let boxes: Vec<Rect<f64>> = polys.iter().map(|(_, r)| bbox(&r[0])).collect();
    for a in 0..polys.len() {
        for b in a + 1..polys.len() {
            if !rects_intersect(&boxes[a], &boxes[b]) {
                continue;
            }
            let (pa, pb) = (polys[a].0, polys[b].0);
            if let Some(p) = part_x.get(&(a, b)) {
                rep.push(
                    ProblemKind::InvalidGeometry,
                    format!(
                        "polygons {} and {} of the multipolygon overlap",
                        pa + 1,
                        pb + 1
                    ),
                    Some(*p),
                );
                continue;
            }
            let a_in_b = first_decisive(&polys[a].1[0], |c| polygon_position(&polys[b].1, c));
            let b_in_a = first_decisive(&polys[b].1[0], |c| polygon_position(&polys[a].1, c));
            let hit = match (a_in_b, b_in_a) {
                (Some((c, Pos::Inside)), _) | (_, Some((c, Pos::Inside))) => Some(c),
                // Every vertex of one on the other's boundary: duplicates.
                (None, _) | (_, None) => Some(polys[a].1[0][0]),
                _ => None,
            };
            if let Some(c) = hit {
                rep.push(
                    ProblemKind::InvalidGeometry,
                    format!(
                        "polygons {} and {} of the multipolygon overlap",
                        pa + 1,
                        pb + 1
                    ),
                    Some(c),
                );
            }
        }
    }
    crossed_shells
}

/// The first vertex of `ring` not on the other geometry's boundary, with its position.
fn first_decisive(
    ring: &[Coord<f64>],
    pos: impl Fn(Coord<f64>) -> Pos,
) -> Option<(Coord<f64>, Pos)> {
    ring.iter()
        .map(|&c| (c, pos(c)))
        .find(|(_, p)| *p != Pos::Boundary)
}

/// For two consecutive segments of a ring, the shared vertex if the ring
/// doubles back on itself there (a spike).
fn spike_point(s: &Seg, t: &Seg) -> Option<Coord<f64>> {
    let (first, second) = if s.b == t.a { (s, t) } else { (t, s) };
    let v = first.b;
    let (p, q) = (first.a, second.b);
    if RobustKernel::orient2d(p, v, q) != Orientation::Collinear {
        return None;
    }
    let dot = (p.x - v.x) * (q.x - v.x) + (p.y - v.y) * (q.y - v.y);
    (dot > 0.0).then_some(v)
}

/// Checks a hierarchy: for every feature whose `parent_code` names another
/// feature of `features`, that it lies inside its parent; for every group of
/// siblings (same `parent_code`, including top-level features with none),
/// that they do not overlap; for every parent with children, that the
/// children cover it.
///
/// A problem is reported when the offending area exceeds `tolerance_m2`:
/// per child for the part outside its parent ([`ProblemKind::OutsideParent`]),
/// per pair of siblings for their common part ([`ProblemKind::Overlap`],
/// reported on the first of the pair), and per connected uncovered piece of
/// a parent ([`ProblemKind::Gap`], reported on the parent).
///
/// Pieces under 0.01 m² or less than 1 mm wide on average are ignored even
/// with a zero tolerance: the polygon overlay leaves such slivers along
/// shared edges through rounding.
///
/// Codes are expected to be unique; with duplicates, the first feature with
/// a code is the parent of children naming it. A `parent_code` naming no
/// feature of the set is not an error here: such features are still checked
/// against their siblings. Geometry validity is not re-checked: run
/// [`validate_geometry`] first, as results on invalid geometries are
/// unspecified (though never a panic).
pub fn validate_tree(features: &[LayerFeature<'_>], tolerance_m2: f64) -> Vec<Problem> {
    let mut by_code: HashMap<&str, usize> = HashMap::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        by_code.entry(f.code).or_insert(i);
    }
    // Sibling groups in order of first appearance, for a stable report order.
    let mut group_of: HashMap<Option<&str>, usize> = HashMap::new();
    let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let g = *group_of.entry(f.parent_code).or_insert_with(|| {
            groups.push((f.parent_code, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }

    let tolerance_m2 = if tolerance_m2.is_finite() {
        tolerance_m2.max(0.0)
    } else {
        0.0
    };
    let results = run_parallel(&groups, |(parent_code, members)| {
        let parent = parent_code
            .and_then(|c| by_code.get(c))
            .map(|&p| &features[p]);
        check_group(features, parent, members, tolerance_m2)
    });
    results.into_iter().flatten().collect()
}

/// Maps `f` over `items` on all available cores, keeping the order.
fn run_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= items.len() {
                            break;
                        }
                        done.push((i, f(&items[i])));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(done) => {
                    for (i, r) in done {
                        slots[i] = Some(r);
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    slots.into_iter().flatten().collect()
}

fn check_group(
    features: &[LayerFeature<'_>],
    parent: Option<&LayerFeature<'_>>,
    members: &[usize],
    tol: f64,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let problem = |f: &LayerFeature<'_>, kind, message, location| Problem {
        index: Some(f.index),
        code: Some(f.code.to_owned()),
        kind,
        message,
        location,
    };
    // A consistent winding is required by the union's fill rule.
    let oriented: Vec<MultiPolygon<f64>> = members
        .iter()
        .map(|&i| features[i].geometry.orient(Direction::Default))
        .collect();
    let union = unary_union(oriented.iter());

    if let Some(parent) = parent {
        // child \ parent ⊆ union \ parent, so a small total clears every child.
        let outside = union.difference(parent.geometry);
        if Pieces::of(&outside).total > tol {
            for (k, &i) in members.iter().enumerate() {
                let child = &features[i];
                let part = oriented[k].difference(parent.geometry);
                let pieces = Pieces::of(&part);
                if pieces.total > tol {
                    out.push(problem(
                        child,
                        ProblemKind::OutsideParent,
                        format!(
                            "{:.1} m² of {} lies outside its parent {}",
                            pieces.total, child.code, parent.code
                        ),
                        pieces.largest_point(),
                    ));
                }
            }
        }
        let gaps = parent.geometry.difference(&union);
        let mut pieces: Vec<(f64, &Polygon<f64>)> = Pieces::of(&gaps)
            .list
            .into_iter()
            .filter(|(a, _)| *a > tol)
            .collect();
        pieces.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (a, piece) in pieces {
            out.push(problem(
                parent,
                ProblemKind::Gap,
                format!(
                    "{a:.1} m² of {} is covered by none of its children",
                    parent.code
                ),
                point_in(piece),
            ));
        }
    }

    // Σ child areas − union area bounds every pairwise overlap from above.
    let sum: f64 = oriented.iter().map(area_m2).sum();
    if sum - area_m2(&union) > tol && members.len() > 1 {
        let boxes: Vec<Option<Rect<f64>>> = oriented.iter().map(|g| g.bounding_rect()).collect();
        let tree = RTree::bulk_load(
            boxes
                .iter()
                .enumerate()
                .filter_map(|(k, b)| b.map(|b| GeomWithData::new(rstar_rect(&b), k)))
                .collect::<Vec<_>>(),
        );
        for (k, b) in boxes.iter().enumerate() {
            let Some(b) = b else { continue };
            let r = rstar_rect(b);
            let env = AABB::from_corners(r.lower(), r.upper());
            let mut others: Vec<usize> = tree
                .locate_in_envelope_intersecting(&env)
                .map(|g| g.data)
                .filter(|&m| m > k)
                .collect();
            others.sort_unstable();
            for m in others {
                let common = oriented[k].intersection(&oriented[m]);
                let pieces = Pieces::of(&common);
                if pieces.total > tol {
                    let (f, g) = (&features[members[k]], &features[members[m]]);
                    out.push(problem(
                        f,
                        ProblemKind::Overlap,
                        format!(
                            "{} and {} overlap by {:.1} m²",
                            f.code, g.code, pieces.total
                        ),
                        pieces.largest_point(),
                    ));
                }
            }
        }
    }
    out
}

fn rstar_rect(b: &Rect<f64>) -> Rectangle<[f64; 2]> {
    Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y])
}

fn area_m2(mp: &MultiPolygon<f64>) -> f64 {
    mp.chamberlain_duquette_unsigned_area()
}

/// Metres per degree of latitude (and of longitude at the equator) on the
/// sphere used for areas.
const M_PER_DEG: f64 = 111_319.5;

/// Perimeter in metres, equirectangular per segment: only used to tell
/// slivers from real pieces, where a few per cent do not matter.
fn perimeter_m(p: &Polygon<f64>) -> f64 {
    std::iter::once(p.exterior())
        .chain(p.interiors())
        .flat_map(|r| r.0.windows(2))
        .map(|w| {
            let k = ((w[0].y + w[1].y) * 0.5).to_radians().cos();
            let dx = (w[1].x - w[0].x) * k * M_PER_DEG;
            let dy = (w[1].y - w[0].y) * M_PER_DEG;
            dx.hypot(dy)
        })
        .sum()
}

/// The pieces of an overlay result that are real: the overlay engine snaps
/// coordinates to an integer grid, which leaves hair-thin slivers along
/// edges that the operands share; those are dropped.
struct Pieces<'a> {
    list: Vec<(f64, &'a Polygon<f64>)>,
    total: f64,
}

impl<'a> Pieces<'a> {
    fn of(mp: &'a MultiPolygon<f64>) -> Self {
        let list: Vec<(f64, &Polygon<f64>)> =
            mp.0.iter()
                .filter_map(|p| {
                    let a = p.chamberlain_duquette_unsigned_area();
                    // Twice the area over the perimeter is the mean width of a sliver.
                    let thin = 2.0 * a < SLIVER_WIDTH_M * perimeter_m(p);
                    (a > NOISE_M2 && !thin).then_some((a, p))
                })
                .collect();
        let total = list.iter().map(|(a, _)| a).sum();
        Pieces { list, total }
    }

    fn largest_point(&self) -> Option<(f64, f64)> {
        self.list
            .iter()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .and_then(|(_, p)| point_in(p))
    }
}

/// A point inside the polygon (on it, for degenerate ones).
fn point_in(p: &Polygon<f64>) -> Option<(f64, f64)> {
    p.interior_point()
        .or_else(|| p.exterior().0.first().map(|c| (*c).into()))
        .map(|p| (p.x(), p.y()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::testutil::{Lattice, mp, rect};
    use geo::LineString;

    fn kinds(problems: &[Problem]) -> Vec<ProblemKind> {
        problems.iter().map(|p| p.kind).collect()
    }

    fn ring(points: &[(f64, f64)]) -> LineString<f64> {
        LineString(points.iter().map(|&(x, y)| Coord { x, y }).collect())
    }

    #[test]
    fn valid_polygons_have_no_problems() {
        let lat = Lattice::new(5, 4, (116.3, 39.9), 0.002, 0.25, 3, 1);
        for (i, cell) in lat.cells().iter().enumerate() {
            assert!(validate_geometry(Some(i), Some("c"), cell).is_empty());
        }
        let mut with_hole = rect(116.0, 39.0, 116.01, 39.01);
        with_hole.interiors_push(ring(&[
            (116.002, 39.002),
            (116.004, 39.002),
            (116.004, 39.004),
            (116.002, 39.002),
        ]));
        let two_parts = MultiPolygon(vec![with_hole, rect(116.02, 39.0, 116.03, 39.01)]);
        assert_eq!(validate_geometry(None, None, &two_parts), vec![]);
        // A hole touching the shell at one point is allowed.
        let mut touching = rect(116.0, 39.0, 116.01, 39.01);
        touching.interiors_push(ring(&[
            (116.0, 39.005),
            (116.004, 39.004),
            (116.004, 39.006),
            (116.0, 39.005),
        ]));
        assert_eq!(validate_geometry(None, None, &mp(touching)), vec![]);
    }

    #[test]
    fn bow_tie_is_a_self_intersection() {
        let bow = mp(Polygon::new(
            ring(&[
                (116.0, 39.0),
                (116.01, 39.01),
                (116.01, 39.0),
                (116.0, 39.01),
                (116.0, 39.0),
            ]),
            vec![],
        ));
        let problems = validate_geometry(Some(3), Some("G3"), &bow);
        assert_eq!(
            kinds(&problems),
            vec![ProblemKind::SelfIntersection],
            "{problems:?}"
        );
        let p = &problems[0];
        assert_eq!(p.index, Some(3));
        assert_eq!(p.code.as_deref(), Some("G3"));
        let (x, y) = p.location.unwrap();
        assert!(
            (x - 116.005).abs() < 1e-9 && (y - 39.005).abs() < 1e-9,
            "{p:?}"
        );
        assert_eq!(p.kind.as_str(), "self_intersection");
    }

    #[test]
    fn self_intersections_in_large_rings_use_the_rtree() {
        // A 200-vertex zigzag ring whose last stretch cuts back across it.
        let mut pts: Vec<(f64, f64)> = (0..200)
            .map(|k| (k as f64 * 0.001, if k % 2 == 0 { 0.0 } else { 0.0005 }))
            .collect();
        pts.push((0.199, 0.01));
        pts.push((0.05, -0.001));
        pts.push((0.0, 0.01));
        pts.push(pts[0]);
        let pts: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x + 116.0, y + 39.0)).collect();
        let problems = validate_geometry(None, None, &mp(Polygon::new(ring(&pts), vec![])));
        assert!(
            problems
                .iter()
                .any(|p| p.kind == ProblemKind::SelfIntersection),
            "{problems:?}"
        );
        assert!(problems.len() <= MAX_POINTS_PER_RING + 1);
    }

    #[test]
    fn spike_is_a_self_intersection() {
        let spike = mp(Polygon::new(
            ring(&[
                (116.0, 39.0),
                (116.01, 39.0),
                (116.02, 39.0),
                (116.01, 39.0),
                (116.01, 39.01),
                (116.0, 39.0),
            ]),
            vec![],
        ));
        let problems = validate_geometry(None, None, &spike);
        assert!(
            problems
                .iter()
                .any(|p| p.kind == ProblemKind::SelfIntersection),
            "{problems:?}"
        );
    }

    #[test]
    fn unclosed_ring_is_reported() {
        let mut poly = rect(116.0, 39.0, 116.01, 39.01);
        // geo re-closes rings after every public mutation except a failed
        // `try_exterior_mut`, which is how an unclosed ring can reach us.
        let r: Result<(), ()> = poly.try_exterior_mut(|ring| {
            ring.0.pop();
            Err(())
        });
        assert!(r.is_err());
        assert_ne!(poly.exterior().0.first(), poly.exterior().0.last());
        let problems = validate_geometry(Some(0), None, &mp(poly));
        assert!(
            problems
                .iter()
                .any(|p| p.kind == ProblemKind::RingNotClosed),
            "{problems:?}"
        );
        assert_eq!(problems[0].location, Some((116.0, 39.0)));
    }

    #[test]
    fn holes_outside_or_crossing_the_shell() {
        let mut outside = rect(116.0, 39.0, 116.01, 39.01);
        outside.interiors_push(rect(116.02, 39.0, 116.03, 39.01).exterior().clone());
        let problems = validate_geometry(None, None, &mp(outside));
        assert_eq!(
            kinds(&problems),
            vec![ProblemKind::HoleOutsideShell],
            "{problems:?}"
        );
        assert!(
            problems[0].message.contains("hole 1 of polygon 1"),
            "{}",
            problems[0].message
        );

        let mut crossing = rect(116.0, 39.0, 116.01, 39.01);
        crossing.interiors_push(rect(116.008, 39.002, 116.012, 39.004).exterior().clone());
        let problems = validate_geometry(None, None, &mp(crossing));
        assert_eq!(
            kinds(&problems),
            vec![ProblemKind::HoleOutsideShell],
            "{problems:?}"
        );
        let (x, _) = problems[0].location.unwrap();
        assert!((x - 116.01).abs() < 1e-9);

        let mut nested = rect(116.0, 39.0, 116.01, 39.01);
        nested.interiors_push(rect(116.001, 39.001, 116.009, 39.009).exterior().clone());
        nested.interiors_push(rect(116.002, 39.002, 116.003, 39.003).exterior().clone());
        let problems = validate_geometry(None, None, &mp(nested));
        assert_eq!(
            kinds(&problems),
            vec![ProblemKind::InvalidGeometry],
            "{problems:?}"
        );
    }

    #[test]
    fn other_defects() {
        assert_eq!(
            kinds(&validate_geometry(None, None, &MultiPolygon(vec![]))),
            vec![ProblemKind::InvalidGeometry]
        );
        let flat = mp(Polygon::new(
            ring(&[(116.0, 39.0), (116.01, 39.0), (116.02, 39.0), (116.0, 39.0)]),
            vec![],
        ));
        let problems = validate_geometry(None, None, &flat);
        assert!(
            !problems.is_empty()
                && problems
                    .iter()
                    .all(|p| p.kind == ProblemKind::SelfIntersection),
            "{problems:?}"
        );
        let tiny = mp(Polygon::new(
            ring(&[
                (116.0, 39.0),
                (116.000_000_001, 39.0),
                (116.0, 39.000_000_001),
                (116.0, 39.0),
            ]),
            vec![],
        ));
        let problems = validate_geometry(None, None, &tiny);
        assert_eq!(kinds(&problems), vec![ProblemKind::InvalidGeometry]);
        assert!(problems[0].message.contains("no area"), "{problems:?}");
        let two = mp(Polygon::new(
            ring(&[(116.0, 39.0), (116.01, 39.0), (116.0, 39.0)]),
            vec![],
        ));
        assert!(
            validate_geometry(None, None, &two)[0]
                .message
                .contains("2 distinct corners")
        );
        let nan = mp(rect(116.0, 39.0, f64::NAN, 39.01));
        assert_eq!(
            kinds(&validate_geometry(None, None, &nan)),
            vec![ProblemKind::InvalidGeometry]
        );
        let far = mp(rect(500_000.0, 4_000_000.0, 500_100.0, 4_000_100.0));
        assert_eq!(
            kinds(&validate_geometry(None, None, &far)),
            vec![ProblemKind::InvalidGeometry]
        );
        let overlapping_parts = MultiPolygon(vec![
            rect(116.0, 39.0, 116.01, 39.01),
            rect(116.005, 39.005, 116.02, 39.02),
        ]);
        let problems = validate_geometry(None, None, &overlapping_parts);
        assert_eq!(
            kinds(&problems),
            vec![ProblemKind::InvalidGeometry],
            "{problems:?}"
        );
        assert!(problems[0].message.contains("overlap"));
        let nested_parts = MultiPolygon(vec![
            rect(116.0, 39.0, 116.01, 39.01),
            rect(116.002, 39.002, 116.003, 39.003),
        ]);
        assert_eq!(
            kinds(&validate_geometry(None, None, &nested_parts)),
            vec![ProblemKind::InvalidGeometry]
        );
        let duplicate_parts = MultiPolygon(vec![
            rect(116.0, 39.0, 116.01, 39.01),
            rect(116.0, 39.0, 116.01, 39.01),
        ]);
        assert_eq!(
            kinds(&validate_geometry(None, None, &duplicate_parts)),
            vec![ProblemKind::InvalidGeometry]
        );
        let side_by_side = MultiPolygon(vec![
            rect(116.0, 39.0, 116.01, 39.01),
            rect(116.01, 39.0, 116.02, 39.01),
        ]);
        assert_eq!(validate_geometry(None, None, &side_by_side), vec![]);
    }

    #[test]
    fn spherical_area_is_close_to_ellipsoidal() {
        use geo::GeodesicArea;
        for lat in [18.0, 30.0, 40.0, 53.0] {
            let sq = mp(rect(116.0, lat, 116.01, lat + 0.01));
            let (cd, geodesic) = (area_m2(&sq), sq.geodesic_area_unsigned());
            let rel = (cd - geodesic).abs() / geodesic;
            assert!(rel < 0.01, "lat {lat}: {cd} vs {geodesic} ({rel})");
        }
    }

    /// A tree over a jittered lattice: root → 4 blocks → 2×2 blocks → cells.
    fn clean_tree(lat: &Lattice) -> Vec<(String, Option<String>, MultiPolygon<f64>)> {
        let mut out = vec![("R".to_string(), None, mp(lat.block(0, 0, 8, 8)))];
        for (bi, bj) in [(0, 0), (4, 0), (0, 4), (4, 4)] {
            let b = format!("B{bi}{bj}");
            out.push((
                b.clone(),
                Some("R".into()),
                mp(lat.block(bi, bj, bi + 4, bj + 4)),
            ));
            for (si, sj) in [(0, 0), (2, 0), (0, 2), (2, 2)] {
                let (i, j) = (bi + si, bj + sj);
                let s = format!("S{i}{j}");
                out.push((
                    s.clone(),
                    Some(b.clone()),
                    mp(lat.block(i, j, i + 2, j + 2)),
                ));
                for (ci, cj) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    out.push((
                        format!("C{}{}", i + ci, j + cj),
                        Some(s.clone()),
                        mp(lat.cell(i + ci, j + cj)),
                    ));
                }
            }
        }
        out
    }

    fn layer(tree: &[(String, Option<String>, MultiPolygon<f64>)]) -> Vec<LayerFeature<'_>> {
        tree.iter()
            .enumerate()
            .map(|(index, (code, parent, g))| LayerFeature {
                index,
                code,
                parent_code: parent.as_deref(),
                geometry: g,
            })
            .collect()
    }

    #[test]
    fn clean_nested_tiling_has_no_problems() {
        for seed in 0..3 {
            let lat = Lattice::new(8, 8, (116.3, 39.9), 0.002, 0.25, 2, seed);
            let tree = clean_tree(&lat);
            assert_eq!(tree.len(), 1 + 4 + 16 + 64);
            let problems = validate_tree(&layer(&tree), 1.0);
            assert!(problems.is_empty(), "{problems:#?}");
            for (i, (_, _, g)) in tree.iter().enumerate() {
                assert!(validate_geometry(Some(i), None, g).is_empty());
            }
        }
    }

    #[test]
    fn child_sticking_out_of_its_parent() {
        let parent = mp(rect(116.0, 39.0, 116.02, 39.01));
        let a = mp(rect(116.0, 39.0, 116.01, 39.01));
        // Extends 0.001° (~85 m) east of the parent.
        let b = mp(rect(116.01, 39.0, 116.021, 39.01));
        let features = [
            LayerFeature {
                index: 0,
                code: "P",
                parent_code: None,
                geometry: &parent,
            },
            LayerFeature {
                index: 1,
                code: "A",
                parent_code: Some("P"),
                geometry: &a,
            },
            LayerFeature {
                index: 2,
                code: "B",
                parent_code: Some("P"),
                geometry: &b,
            },
        ];
        let problems = validate_tree(&features, 1.0);
        assert_eq!(
            kinds(&problems),
            vec![ProblemKind::OutsideParent],
            "{problems:#?}"
        );
        let p = &problems[0];
        assert_eq!((p.index, p.code.as_deref()), (Some(2), Some("B")));
        let (x, y) = p.location.unwrap();
        assert!(x > 116.02 && x < 116.021 && y > 39.0 && y < 39.01, "{p:?}");
        // ~86 m × 1110 m.
        assert!(p.message.contains("outside its parent P"), "{}", p.message);
        // A tolerance above the stray area silences it.
        assert!(validate_tree(&features, 200_000.0).is_empty());
    }

    #[test]
    fn overlapping_siblings() {
        let parent = mp(rect(116.0, 39.0, 116.02, 39.01));
        let a = mp(rect(116.0, 39.0, 116.011, 39.01));
        let b = mp(rect(116.01, 39.0, 116.02, 39.01));
        let c = mp(rect(116.03, 39.0, 116.04, 39.01));
        let features = [
            LayerFeature {
                index: 10,
                code: "P",
                parent_code: None,
                geometry: &parent,
            },
            LayerFeature {
                index: 11,
                code: "A",
                parent_code: Some("P"),
                geometry: &a,
            },
            LayerFeature {
                index: 12,
                code: "B",
                parent_code: Some("P"),
                geometry: &b,
            },
            // Same parent code but far away: a different problem (outside), no overlap.
            LayerFeature {
                index: 13,
                code: "C",
                parent_code: Some("Q"),
                geometry: &c,
            },
        ];
        let problems = validate_tree(&features, 1.0);
        assert_eq!(
            kinds(&problems),
            vec![ProblemKind::Overlap],
            "{problems:#?}"
        );
        let p = &problems[0];
        assert_eq!(p.code.as_deref(), Some("A"));
        assert!(p.message.contains("A and B overlap"), "{}", p.message);
        let (x, _) = p.location.unwrap();
        assert!(x > 116.01 && x < 116.011);
        assert_eq!(p.kind.as_str(), "overlap");
    }

    #[test]
    fn gap_in_coverage() {
        let parent = mp(rect(116.0, 39.0, 116.03, 39.01));
        let a = mp(rect(116.0, 39.0, 116.01, 39.01));
        let b = mp(rect(116.02, 39.0, 116.03, 39.01));
        // A sliver far below tolerance between b and the parent edge is ignored.
        let c = mp(rect(116.01, 39.0, 116.02, 39.004));
        let features = [
            LayerFeature {
                index: 0,
                code: "P",
                parent_code: None,
                geometry: &parent,
            },
            LayerFeature {
                index: 1,
                code: "A",
                parent_code: Some("P"),
                geometry: &a,
            },
            LayerFeature {
                index: 2,
                code: "B",
                parent_code: Some("P"),
                geometry: &b,
            },
            LayerFeature {
                index: 3,
                code: "C",
                parent_code: Some("P"),
                geometry: &c,
            },
        ];
        let problems = validate_tree(&features, 1.0);
        assert_eq!(kinds(&problems), vec![ProblemKind::Gap], "{problems:#?}");
        let p = &problems[0];
        assert_eq!(p.code.as_deref(), Some("P"));
        let (x, y) = p.location.unwrap();
        assert!(x > 116.01 && x < 116.02 && y > 39.004 && y < 39.01, "{p:?}");
        assert_eq!(p.kind.as_str(), "gap");
    }

    #[test]
    fn every_problem_is_reported() {
        let lat = Lattice::new(8, 8, (116.3, 39.9), 0.002, 0.25, 2, 5);
        let mut tree = clean_tree(&lat);
        // Remove one cell (gap in its parent), and enlarge another into its
        // neighbours and beyond the root (overlaps + outside).
        let removed = tree.iter().position(|t| t.0 == "C33").unwrap();
        tree.remove(removed);
        let big = tree.iter().position(|t| t.0 == "C00").unwrap();
        tree[big].2 = mp(rect(
            116.3 - 0.002,
            39.9 - 0.002,
            116.3 + 0.0025,
            39.9 + 0.0025,
        ));
        let problems = validate_tree(&layer(&tree), 1.0);
        let ks = kinds(&problems);
        assert!(ks.contains(&ProblemKind::Gap), "{problems:#?}");
        assert!(ks.contains(&ProblemKind::Overlap));
        assert!(ks.contains(&ProblemKind::OutsideParent));
        // Only the direct parent is checked, so C00 is outside once (of S00).
        let outside: Vec<_> = problems
            .iter()
            .filter(|p| p.kind == ProblemKind::OutsideParent)
            .collect();
        assert_eq!(outside.len(), 1);
        assert_eq!(outside[0].code.as_deref(), Some("C00"));
        let overlaps = problems
            .iter()
            .filter(|p| p.kind == ProblemKind::Overlap)
            .count();
        assert!(overlaps >= 2, "{problems:#?}");
        let gap = problems
            .iter()
            .find(|p| p.kind == ProblemKind::Gap)
            .unwrap();
        assert_eq!(gap.code.as_deref(), Some("S22"));
    }

    /// `cargo test -p wangge-geo --release -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_validate_tree_18000_cells() {
        // 150 × 120 cells; 5 × 4 cells per community, 3 × 3 communities per
        // street, 2 × 2 streets... up to one root.
        let lat = Lattice::new(150, 120, (116.0, 39.7), 0.004, 0.25, 2, 3);
        let mut tree: Vec<(String, Option<String>, MultiPolygon<f64>)> = Vec::new();
        let levels = [(5usize, 4usize), (15, 12), (30, 24), (150, 120)];
        tree.push(("L3_0_0".into(), None, mp(lat.block(0, 0, 150, 120))));
        for (lvl, &(w, h)) in levels.iter().enumerate().take(3).rev() {
            let (pw, ph) = levels[lvl + 1];
            for j in (0..120).step_by(h) {
                for i in (0..150).step_by(w) {
                    let parent = format!("L{}_{}_{}", lvl + 1, i / pw * pw, j / ph * ph);
                    tree.push((
                        format!("L{lvl}_{i}_{j}"),
                        Some(parent),
                        mp(lat.block(i, j, i + w, j + h)),
                    ));
                }
            }
        }
        for j in 0..120 {
            for i in 0..150 {
                tree.push((
                    format!("C{i}_{j}"),
                    Some(format!("L0_{}_{}", i / 5 * 5, j / 4 * 4)),
                    mp(lat.cell(i, j)),
                ));
            }
        }
        let features = layer(&tree);
        let t = std::time::Instant::now();
        let problems = validate_tree(&features, 1.0);
        println!(
            "validate_tree: {} features, {:?}, {} problems",
            features.len(),
            t.elapsed(),
            problems.len()
        );
        assert!(
            problems.is_empty(),
            "{:#?}",
            &problems[..problems.len().min(5)]
        );
        let t = std::time::Instant::now();
        let problems = validate_tree(&features, 0.0);
        println!(
            "validate_tree (tolerance 0): {:?}, {} problems",
            t.elapsed(),
            problems.len()
        );
        assert!(problems.is_empty(), "{problems:#?}");
        // Shift every cell a little: everything overlaps, sticks out and leaves gaps.
        let shifted: Vec<MultiPolygon<f64>> = tree
            .iter()
            .map(|(c, _, g)| {
                if c.starts_with('C') {
                    use geo::Translate;
                    g.translate(0.0004, 0.0003)
                } else {
                    g.clone()
                }
            })
            .collect();
        let features: Vec<LayerFeature<'_>> = tree
            .iter()
            .zip(&shifted)
            .enumerate()
            .map(|(index, ((code, parent, _), g))| LayerFeature {
                index,
                code,
                parent_code: parent.as_deref(),
                geometry: g,
            })
            .collect();
        let t = std::time::Instant::now();
        let problems = validate_tree(&features, 1.0);
        println!(
            "validate_tree (all cells shifted): {:?}, {} problems",
            t.elapsed(),
            problems.len()
        );
        let t = std::time::Instant::now();
        let n: usize = tree
            .iter()
            .enumerate()
            .map(|(i, (_, _, g))| validate_geometry(Some(i), None, g).len())
            .sum();
        println!(
            "validate_geometry: {} features, {:?}, {n} problems",
            tree.len(),
            t.elapsed()
        );
        assert_eq!(n, 0);
    }
}
