//! A point on the earth in WGS-84 / CGCS2000, the storage system.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    lon: f64,
    lat: f64,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum PositionError {
    #[error("{field} is not a number")]
    NotFinite { field: &'static str },
    #[error(
        "lon {lon} and lat {lat} look swapped: lat must be within -90..90, lon within -180..180"
    )]
    Swapped { lon: f64, lat: f64 },
    #[error("{field} {value} is out of range {min}..{max}")]
    OutOfRange {
        field: &'static str,
        value: f64,
        min: f64,
        max: f64,
    },
}

impl Position {
    pub fn new(lon: f64, lat: f64) -> Result<Self, PositionError> {
        if !lon.is_finite() {
            return Err(PositionError::NotFinite { field: "lon" });
        }
        if !lat.is_finite() {
            return Err(PositionError::NotFinite { field: "lat" });
        }
        if !(-90.0..=90.0).contains(&lat) && (-90.0..=90.0).contains(&lon) && lat.abs() <= 180.0 {
            return Err(PositionError::Swapped { lon, lat });
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(PositionError::OutOfRange {
                field: "lon",
                value: lon,
                min: -180.0,
                max: 180.0,
            });
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(PositionError::OutOfRange {
                field: "lat",
                value: lat,
                min: -90.0,
                max: 90.0,
            });
        }
        Ok(Position { lon, lat })
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Great-circle distance in metres (haversine on a sphere of the mean earth radius): ample
    /// for telling whether two reports are 50 m apart.
    pub fn distance_m(self, other: Position) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (la1, la2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = la2 - la1;
        let dlon = (other.lon - self.lon).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_nan_range_and_swaps() {
        assert!(matches!(
            Position::new(f64::NAN, 1.0),
            Err(PositionError::NotFinite { field: "lon" })
        ));
        assert!(matches!(
            Position::new(1.0, f64::INFINITY),
            Err(PositionError::NotFinite { field: "lat" })
        ));
        assert!(matches!(
            Position::new(39.9, 116.4),
            Err(PositionError::Swapped { .. })
        ));
        assert!(matches!(
            Position::new(181.0, 10.0),
            Err(PositionError::OutOfRange { field: "lon", .. })
        ));
        assert!(matches!(
            Position::new(10.0, 190.0),
            Err(PositionError::OutOfRange { field: "lat", .. })
        ));
        assert_eq!(Position::new(116.4, 39.9).unwrap().lon(), 116.4);
    }

    #[test]
    fn distances_are_in_metres() {
        let a = Position::new(116.3975, 39.9087).unwrap();
        let b = Position::new(116.3975, 39.9096).unwrap();
        assert!((a.distance_m(b) - 100.0).abs() < 1.0, "{}", a.distance_m(b));
        assert_eq!(a.distance_m(a), 0.0);
    }

    proptest! {
        #[test]
        fn accepted_positions_are_in_range(lon in proptest::num::f64::ANY, lat in proptest::num::f64::ANY) {
            if let Ok(p) = Position::new(lon, lat) {
                prop_assert!((-180.0..=180.0).contains(&p.lon()));
                prop_assert!((-90.0..=90.0).contains(&p.lat()));
            }
        }
    }
}
