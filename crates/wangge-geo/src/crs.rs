//! Coordinate reference systems accepted on input.
//!
//! Storage is always WGS-84 (EPSG:4326, lon/lat degrees). Chinese data often
//! arrives in GCJ-02 (the obfuscated "Mars" datum required for published maps
//! in mainland China, used by Amap/Tencent) or BD-09 (Baidu's further offset of
//! GCJ-02). CGCS2000 differs from WGS-84 by centimetres, far below the
//! precision of grid boundaries, so it is treated as WGS-84.
//!
//! The GCJ-02 forward transform is the widely published reverse-engineered
//! algorithm (Krasovsky ellipsoid parameters, `ee = 0.00669342162296594323`).
//! As in that algorithm, points outside a rough bounding box of China are left
//! unchanged. The inverse transforms are computed by fixed-point iteration on
//! the forward transform, so a round trip is accurate to far better than
//! 1e-7 degrees (the one-step inverse found in many code bases is off by up to
//! a couple of metres).

use std::fmt;
use std::str::FromStr;

use geo::{MapCoords, MultiPolygon};

/// A coordinate system accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS-84 lon/lat (also used for CGCS2000).
    Wgs84,
    /// GCJ-02 ("Mars coordinates"), used by Amap, Tencent and most Chinese web maps.
    Gcj02,
    /// BD-09, used by Baidu maps.
    Bd09,
}

impl Crs {
    /// Canonical lower-case name, accepted back by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text did not name a supported coordinate system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown coordinate system {0:?}: expected one of wgs84, cgcs2000, gcj02, bd09")]
pub struct ParseCrsError(pub String);

impl FromStr for Crs {
    type Err = ParseCrsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("wgs84") || t.eq_ignore_ascii_case("cgcs2000") {
            Ok(Crs::Wgs84)
        } else if t.eq_ignore_ascii_case("gcj02") {
            Ok(Crs::Gcj02)
        } else if t.eq_ignore_ascii_case("bd09") {
            Ok(Crs::Bd09)
        } else {
            Err(ParseCrsError(s.to_owned()))
        }
    }
}

const PI: f64 = std::f64::consts::PI;
/// Semi-major axis of the Krasovsky 1940 ellipsoid, as used by GCJ-02.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid.
#[allow(clippy::excessive_precision)] // The published constant, kept verbatim.
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943_23;
const BD_X_PI: f64 = PI * 3000.0 / 180.0;

/// Convergence threshold of the iterative inverses, in degrees (~1 µm).
const INVERSE_EPS: f64 = 1e-11;
const INVERSE_MAX_ITER: usize = 50;

/// The rough bounding box used by the published GCJ-02 algorithm; outside it
/// GCJ-02 coordinates equal WGS-84 ones.
pub fn out_of_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS-84 → GCJ-02.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    let mut dlat = transform_lat(lon - 105.0, lat - 35.0);
    let mut dlon = transform_lon(lon - 105.0, lat - 35.0);
    let radlat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * radlat.sin() * radlat.sin();
    let sqrt_magic = magic.sqrt();
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrt_magic * radlat.cos() * PI);
    (lon + dlon, lat + dlat)
}

/// Inverts `forward` near the identity: the offsets it adds vary slowly with
/// position, so `x ← x − (forward(x) − target)` is a contraction.
fn invert(forward: impl Fn(f64, f64) -> (f64, f64), lon: f64, lat: f64) -> (f64, f64) {
    if !lon.is_finite() || !lat.is_finite() {
        return (lon, lat);
    }
    let (mut x, mut y) = (lon, lat);
    // Start from the crude one-step inverse.
    let (fx, fy) = forward(x, y);
    x -= fx - lon;
    y -= fy - lat;
    for _ in 0..INVERSE_MAX_ITER {
        let (fx, fy) = forward(x, y);
        let (dx, dy) = (fx - lon, fy - lat);
        x -= dx;
        y -= dy;
        if dx.abs() < INVERSE_EPS && dy.abs() < INVERSE_EPS {
            break;
        }
    }
    (x, y)
}

/// GCJ-02 → WGS-84 (iterative, round-trip error far below 1e-7 degrees).
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if out_of_china(lon, lat) {
        return (lon, lat);
    }
    invert(wgs84_to_gcj02, lon, lat)
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * BD_X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * BD_X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// BD-09 → GCJ-02 (iterative inverse of [`gcj02_to_bd09`]).
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    invert(gcj02_to_bd09, lon, lat)
}

/// WGS-84 → BD-09.
pub fn wgs84_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let (x, y) = wgs84_to_gcj02(lon, lat);
    gcj02_to_bd09(x, y)
}

/// BD-09 → WGS-84.
pub fn bd09_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    let (x, y) = bd09_to_gcj02(lon, lat);
    gcj02_to_wgs84(x, y)
}

/// Converts a coordinate given in `crs` to WGS-84.
pub fn to_wgs84(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lon, lat),
        Crs::Gcj02 => gcj02_to_wgs84(lon, lat),
        Crs::Bd09 => bd09_to_wgs84(lon, lat),
    }
}

/// Converts a WGS-84 coordinate to `crs` (for export to Chinese web maps).
pub fn from_wgs84(crs: Crs, lon: f64, lat: f64) -> (f64, f64) {
    match crs {
        Crs::Wgs84 => (lon, lat),
        Crs::Gcj02 => wgs84_to_gcj02(lon, lat),
        Crs::Bd09 => wgs84_to_bd09(lon, lat),
    }
}

/// Converts every coordinate of a multipolygon given in `crs` to WGS-84.
///
/// Each vertex is transformed independently and deterministically, so vertices
/// shared by adjacent polygons stay bit-identical after conversion.
pub fn convert_multipolygon(crs: Crs, mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    if crs == Crs::Wgs84 {
        return mp.clone();
    }
    mp.map_coords(|c| {
        let (x, y) = to_wgs84(crs, c.x, c.y);
        geo::Coord { x, y }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use geo::polygon;
    use proptest::prelude::*;

    fn close(a: (f64, f64), b: (f64, f64), eps: f64) -> bool {
        (a.0 - b.0).abs() < eps && (a.1 - b.1).abs() < eps
    }

    #[test]
    fn parse_and_display() {
        assert_eq!("WGS84".parse::<Crs>().unwrap(), Crs::Wgs84);
        assert_eq!(" cgcs2000 ".parse::<Crs>().unwrap(), Crs::Wgs84);
        assert_eq!("Gcj02".parse::<Crs>().unwrap(), Crs::Gcj02);
        assert_eq!("BD09".parse::<Crs>().unwrap(), Crs::Bd09);
        assert!("epsg:3857".parse::<Crs>().is_err());
        for c in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
            assert_eq!(c.to_string().parse::<Crs>().unwrap(), c);
        }
    }

    #[test]
    fn published_reference_values() {
        // (wgs lon, wgs lat, gcj lon, gcj lat) from the test suites of
        // eviltransform and coordtransform, two widely used implementations.
        let cases = [
            (
                121.527_210_6,
                31.177_427_6,
                121.531_541_859_215,
                31.175_303_983_645_97,
            ),
            (
                113.912_316,
                22.543_847,
                113.917_176_480_836_3,
                22.540_796_131_694_766,
            ),
            (
                116.377_817,
                39.911_954,
                116.384_047_224_556_57,
                39.913_345_455_360_69,
            ),
            (
                116.404,
                39.915,
                116.410_244_499_169_38,
                39.916_404_281_501_64,
            ),
        ];
        for (wx, wy, gx, gy) in cases {
            let g = wgs84_to_gcj02(wx, wy);
            assert!(close(g, (gx, gy), 1e-9), "{g:?} vs {gx} {gy}");
            assert!(close(gcj02_to_wgs84(gx, gy), (wx, wy), 1e-9));
        }
        let bd = gcj02_to_bd09(116.404, 39.915);
        assert!(
            close(bd, (116.410_369_493_710_29, 39.921_336_993_510_21), 1e-9),
            "{bd:?}"
        );
    }

    #[test]
    fn tiananmen() {
        // The algorithm puts WGS-84 (116.391275, 39.90765) at GCJ-02
        // (116.397516, 39.909051): about 540 m east, 155 m north.
        let wgs = (116.391_275, 39.907_65);
        let gcj = wgs84_to_gcj02(wgs.0, wgs.1);
        assert!(close(gcj, (116.397_516, 39.909_051), 1e-6), "{gcj:?}");
        assert!(close(gcj02_to_wgs84(gcj.0, gcj.1), wgs, 1e-9));
    }

    #[test]
    fn bd09_reference() {
        // coordtransform's crude inverse gives (116.397627, 39.908657) for
        // this point; the iterative inverse agrees to a few 1e-6 degrees and
        // round-trips exactly.
        let gcj = bd09_to_gcj02(116.404, 39.915);
        assert!(close(gcj, (116.397_627, 39.908_657), 1e-5), "{gcj:?}");
        assert!(close(gcj02_to_bd09(gcj.0, gcj.1), (116.404, 39.915), 1e-9));
    }

    #[test]
    fn outside_china_is_identity() {
        assert_eq!(wgs84_to_gcj02(2.35, 48.85), (2.35, 48.85));
        assert_eq!(gcj02_to_wgs84(-74.0, 40.7), (-74.0, 40.7));
        assert_eq!(to_wgs84(Crs::Wgs84, 1.0, 2.0), (1.0, 2.0));
    }

    #[test]
    fn non_finite_does_not_hang() {
        let (x, y) = gcj02_to_wgs84(f64::NAN, 30.0);
        assert!(x.is_nan() && y == 30.0);
        let (x, _) = bd09_to_wgs84(f64::INFINITY, 30.0);
        assert!(!x.is_finite());
    }

    #[test]
    fn convert_multipolygon_shares_vertices() {
        let a = polygon![(x: 116.0, y: 39.0), (x: 116.1, y: 39.0), (x: 116.1, y: 39.1), (x: 116.0, y: 39.0)];
        let b = polygon![(x: 116.1, y: 39.0), (x: 116.2, y: 39.0), (x: 116.1, y: 39.1), (x: 116.1, y: 39.0)];
        let ca = convert_multipolygon(Crs::Gcj02, &MultiPolygon(vec![a]));
        let cb = convert_multipolygon(Crs::Gcj02, &MultiPolygon(vec![b]));
        assert_eq!(ca.0[0].exterior().0[1], cb.0[0].exterior().0[0]);
        assert_eq!(ca.0[0].exterior().0[2], cb.0[0].exterior().0[2]);
        let back = ca.map_coords(|c| {
            let (x, y) = wgs84_to_gcj02(c.x, c.y);
            geo::Coord { x, y }
        });
        assert!(close(
            (back.0[0].exterior().0[1].x, back.0[0].exterior().0[1].y),
            (116.1, 39.0),
            1e-9
        ));
    }

    proptest! {
        #[test]
        fn gcj_round_trip(lon in 73.0f64..135.0, lat in 3.0f64..53.0) {
            let (gx, gy) = wgs84_to_gcj02(lon, lat);
            let (wx, wy) = gcj02_to_wgs84(gx, gy);
            prop_assert!((wx - lon).abs() < 1e-7 && (wy - lat).abs() < 1e-7, "{} {} -> {} {}", lon, lat, wx, wy);
            // The offset is a few hundred metres at most.
            prop_assert!((gx - lon).abs() < 0.01 && (gy - lat).abs() < 0.01);
        }

        #[test]
        fn bd_round_trip(lon in 73.0f64..135.0, lat in 3.0f64..53.0) {
            let (bx, by) = wgs84_to_bd09(lon, lat);
            let (wx, wy) = bd09_to_wgs84(bx, by);
            prop_assert!((wx - lon).abs() < 1e-7 && (wy - lat).abs() < 1e-7);
            let (gx, gy) = bd09_to_gcj02(bx, by);
            let (bx2, by2) = gcj02_to_bd09(gx, gy);
            prop_assert!((bx2 - bx).abs() < 1e-9 && (by2 - by).abs() < 1e-9);
        }

        #[test]
        fn to_from_wgs84_round_trip(lon in 73.0f64..135.0, lat in 3.0f64..53.0, which in 0usize..3) {
            let crs = [Crs::Wgs84, Crs::Gcj02, Crs::Bd09][which];
            let (x, y) = from_wgs84(crs, lon, lat);
            let (wx, wy) = to_wgs84(crs, x, y);
            prop_assert!((wx - lon).abs() < 1e-7 && (wy - lat).abs() < 1e-7);
        }
    }
}
