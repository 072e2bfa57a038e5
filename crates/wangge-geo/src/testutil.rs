//! Synthetic tilings for tests and micro benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use geo::{Coord, LineString, MultiPolygon, Polygon};

/// Small deterministic generator (xorshift64*), so tests need no RNG crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    pub fn signed(&mut self) -> f64 {
        self.f64() * 2.0 - 1.0
    }
}

/// A jittered lattice of `nx × ny` cells. Every vertex is computed once and
/// shared bit-for-bit by all cells using it; each lattice edge carries `k`
/// jittered intermediate vertices, so a cell has `4 (k + 1)` vertices and
/// mostly diagonal edges.
pub struct Lattice {
    pub nx: usize,
    pub ny: usize,
    corners: Vec<Coord<f64>>,
    /// Intermediate points of the edge from corner (i, j) to (i + 1, j).
    h_mid: Vec<Vec<Coord<f64>>>,
    /// Intermediate points of the edge from corner (i, j) to (i, j + 1).
    v_mid: Vec<Vec<Coord<f64>>>,
}

impl Lattice {
    /// `jitter` (≤ 0.25) is the corner displacement as a fraction of `step`.
    pub fn new(
        nx: usize,
        ny: usize,
        origin: (f64, f64),
        step: f64,
        jitter: f64,
        k: usize,
        seed: u64,
    ) -> Self {
        let mut rng = Rng::new(seed);
        let mut corners = Vec::with_capacity((nx + 1) * (ny + 1));
        for j in 0..=ny {
            for i in 0..=nx {
                corners.push(Coord {
                    x: origin.0 + (i as f64 + jitter * rng.signed()) * step,
                    y: origin.1 + (j as f64 + jitter * rng.signed()) * step,
                });
            }
        }
        let mut lat = Lattice {
            nx,
            ny,
            corners,
            h_mid: Vec::new(),
            v_mid: Vec::new(),
        };
        let side = 0.3 * jitter * step;
        let mids = |a: Coord<f64>, b: Coord<f64>, rng: &mut Rng| -> Vec<Coord<f64>> {
            let (dx, dy) = (b.x - a.x, b.y - a.y);
            let len = (dx * dx + dy * dy).sqrt();
            (1..=k)
                .map(|m| {
                    let t = (m as f64 + 0.3 * rng.signed()) / (k + 1) as f64;
                    let off = side * rng.signed();
                    Coord {
                        x: a.x + t * dx - off * dy / len,
                        y: a.y + t * dy + off * dx / len,
                    }
                })
                .collect()
        };
        for j in 0..=ny {
            for i in 0..=nx {
                let c = lat.corner(i, j);
                lat.h_mid.push(if i < nx {
                    mids(c, lat.corner(i + 1, j), &mut rng)
                } else {
                    Vec::new()
                });
                lat.v_mid.push(if j < ny {
                    mids(c, lat.corner(i, j + 1), &mut rng)
                } else {
                    Vec::new()
                });
            }
        }
        lat
    }

    fn at(&self, i: usize, j: usize) -> usize {
        j * (self.nx + 1) + i
    }

    pub fn corner(&self, i: usize, j: usize) -> Coord<f64> {
        self.corners[self.at(i, j)]
    }

    /// Counter-clockwise polygon covering cells `[i0, i1) × [j0, j1)`,
    /// following the lattice edges exactly.
    pub fn block(&self, i0: usize, j0: usize, i1: usize, j1: usize) -> Polygon<f64> {
        let mut ring = Vec::new();
        for i in i0..i1 {
            ring.push(self.corner(i, j0));
            ring.extend(&self.h_mid[self.at(i, j0)]);
        }
        for j in j0..j1 {
            ring.push(self.corner(i1, j));
            ring.extend(&self.v_mid[self.at(i1, j)]);
        }
        for i in (i0..i1).rev() {
            ring.push(self.corner(i + 1, j1));
            ring.extend(self.h_mid[self.at(i, j1)].iter().rev());
        }
        for j in (j0..j1).rev() {
            ring.push(self.corner(i0, j + 1));
            ring.extend(self.v_mid[self.at(i0, j)].iter().rev());
        }
        ring.push(ring[0]);
        Polygon::new(LineString(ring), vec![])
    }

    pub fn cell(&self, i: usize, j: usize) -> Polygon<f64> {
        self.block(i, j, i + 1, j + 1)
    }

    /// All cells, row by row.
    pub fn cells(&self) -> Vec<MultiPolygon<f64>> {
        let mut out = Vec::with_capacity(self.nx * self.ny);
        for j in 0..self.ny {
            for i in 0..self.nx {
                out.push(MultiPolygon(vec![self.cell(i, j)]));
            }
        }
        out
    }
}

pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    Polygon::new(
        LineString(vec![
            Coord { x: x0, y: y0 },
            Coord { x: x1, y: y0 },
            Coord { x: x1, y: y1 },
            Coord { x: x0, y: y1 },
            Coord { x: x0, y: y0 },
        ]),
        vec![],
    )
}

pub fn mp(p: Polygon<f64>) -> MultiPolygon<f64> {
    MultiPolygon(vec![p])
}
